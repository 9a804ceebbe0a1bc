"""`validate` collects every error at once, each with its YAML path and a suggestion."""

from __future__ import annotations

import textwrap

import pytest

from mmbench.errors import RecipeError
from mmbench.recipe.load import load_recipe

TYPOS = """\
schema_version: 1
dataset:
  name: amazon-beuty
  split: loo-time
student:
  name: mf
  params: {dim: 16, regg: 0.1}
baselines:
  - name: popp
train: {epochs: 3, learning_rate: 0.1}
eval: {metrics: [hr, ndgc]}
seeds: [1, 1]
"""


def errors_of(tmp_path, text: str, name: str = "r.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    return err.value.issues


def test_every_error_at_once_with_paths_and_suggestions(tmp_path):
    issues = errors_of(tmp_path, TYPOS)
    text = "\n".join(issues)
    assert len(issues) == 6, text
    assert "r.yaml:3: dataset.name: unknown dataset 'amazon-beuty'; did you mean 'amazon-beauty'?" in text
    assert "r.yaml:7: student.params.regg: unknown parameter of student 'mf'; did you mean 'reg'?" in text
    assert "r.yaml:9: baselines[0].name: unknown student 'popp'; did you mean 'pop' or 'recbole/pop'?" in text
    assert "r.yaml:10: train.learning_rate: unknown field" in text
    assert "r.yaml:11: eval.metrics[1]: unknown metric 'ndgc'; did you mean 'ndcg'?" in text
    assert "r.yaml:12: seeds: duplicate entries [1]" in text
    lines = [int(i.split(":")[1]) for i in issues]
    assert lines == sorted(lines), "errors are listed in file order"


def test_unknown_top_level_field_suggests(tmp_path):
    issues = errors_of(tmp_path, "schema_version: 1\ndatset: {name: amazon-beauty}\nstudent: {name: mf}\n")
    text = "\n".join(issues)
    assert "datset: unknown field; did you mean 'dataset'?" in text
    assert "dataset: required field is missing" in text


def test_schema_version_is_required_and_checked(tmp_path):
    issues = errors_of(tmp_path, "schema_version: 2\ndataset: {name: amazon-beauty}\nstudent: {name: mf}\n")
    assert any("schema_version: must be 1" in i for i in issues)


def test_split_typo(tmp_path):
    issues = errors_of(tmp_path, "schema_version: 1\ndataset: {name: amazon-beauty, split: loo-tme}\nstudent: {name: mf}\n")
    assert any("dataset.split: unknown split 'loo-tme'; did you mean 'loo-time'?" in i for i in issues)


def test_split_seed_only_for_seeded_splits(tmp_path):
    issues = errors_of(tmp_path, "schema_version: 1\ndataset: {name: amazon-beauty, split: loo-time, split_seed: 3}\n"
                                 "student: {name: mf}\n")
    assert any("split_seed is set but split 'loo-time' is deterministic" in i for i in issues)
    ok = tmp_path / "ok.yaml"
    ok.write_text("schema_version: 1\ndataset: {name: amazon-beauty, split: ratio-8-1-1, split_seed: 3}\n"
                  "student: {name: mf}\n")
    assert load_recipe(ok).dataset.split_seed == 3


def test_cross_field_rules(tmp_path):
    issues = errors_of(tmp_path, """\
        schema_version: 1
        dataset: {name: amazon-beauty}
        student: {name: mf, train: {select_metric: NDGC@10}}
        baselines: [{name: pop, train: {select_metric: NDCG@50}}]
        modality_dropout: {image: 0.5}
        train: {select_metric: HR10}
    """)
    text = "\n".join(issues)
    assert "student.train.select_metric: 'NDGC@10': 'NDGC' is not among eval.metrics labels" in text
    assert "did you mean 'NDCG@10'?" in text
    assert "baselines[0].train.select_metric: 'NDCG@50': K=50 is not in eval.ks [5, 10, 20]" in text
    assert "modality_dropout.image: no encoder for modality 'image'" in text
    assert "train.select_metric: 'HR10' is not of the form LABEL@K" not in text  # overridden by every model


def test_unknown_kinds_are_named_with_suggestions(tmp_path):
    issues = errors_of(tmp_path, """\
        schema_version: 1
        dataset: {name: amazon-beauty}
        student: {name: mf}
        teacher: {name: mm-gnnn, fusion: {name: cross-atention}}
        distill: [{name: listwise_kl, weight: 0.5}]
        encoders: {text: {name: minilmm}}
        imputer: {name: neighbour-mean}
    """)
    text = "\n".join(issues)
    assert "teacher.name: unknown teacher 'mm-gnnn'; did you mean 'mm-gnn'?" in text
    assert "teacher.fusion.name: unknown fusion 'cross-atention'; did you mean 'cross-attention'?" in text
    assert "distill[0].name: unknown distill-loss 'listwise_kl'; did you mean 'listwise-kl'?" in text
    assert "encoders.text.name: unknown encoder 'minilmm'; did you mean 'minilm'?" in text
    assert "imputer.name: unknown imputer 'neighbour-mean'; did you mean 'neighbor-mean'?" in text


def test_kd_cross_field_rules(tmp_path):
    issues = errors_of(tmp_path, """\
        schema_version: 1
        dataset: {name: amazon-beauty}
        student: {name: lightgcn}
        baselines: [{name: lightgcn}]
        distill: [{name: listwise-kl}]
        imputer: {name: mean}
    """)
    text = "\n".join(issues)
    assert "distill: distillation losses need a `teacher:`" in text
    assert "baselines[0].name: a KD recipe already trains the student 'lightgcn' without KD" in text
    assert "imputer: an imputer fills missing encoder features, but the recipe has no `encoders:`" in text
    issues = errors_of(tmp_path, """\
        schema_version: 1
        dataset: {name: amazon-beauty}
        student: {name: lightgcn}
        teacher: {name: mm-gnn, fusion: {name: gated}}
        distill: [{name: rrd, params: {top_k: 0}}]
    """)
    text = "\n".join(issues)
    assert "teacher.fusion: fusion combines encoder features, but the recipe has no `encoders:`" in text
    assert "distill[0].params" in text


def test_encoder_templates_are_checked(tmp_path):
    issues = errors_of(tmp_path, """\
        schema_version: 1
        dataset: {name: tiktok, split: given}
        student: {name: pop}
        encoders:
          text: {name: minilm, template: "{title!r}[. {brand}"}
          image: {name: precomputed, params: {feature: visual}, template: "{title}"}
    """)
    text = "\n".join(issues)
    assert "encoders.text.template: template placeholder {title!r} is not a plain field name" in text
    assert "encoders.image.template: encoder 'precomputed' consumes item, not text; remove `template`" in text
    typo = errors_of(tmp_path, """\
        schema_version: 1
        dataset: {name: tiktok, split: given}
        student: {name: pop}
        encoders: {audio: {name: precomputed, params: {feature: acoustic}, tempalte: "{title}"}}
    """)
    assert any("encoders.audio.tempalte: unknown field; did you mean 'template'?" in line for line in typo)


def test_wrong_types_are_reported_per_field(tmp_path):
    issues = errors_of(tmp_path, """\
        schema_version: 1
        dataset: {name: amazon-beauty, params: {max_users: many}}
        student: {name: mf, params: {dim: 0.5}}
        train: {epochs: -1, lr: 0}
        eval: {ks: []}
    """)
    text = "\n".join(issues)
    for where in ("dataset.params.max_users", "student.params.dim", "train.epochs", "train.lr", "eval.ks"):
        assert f"{where}:" in text, where


def test_recipe_plugins_are_loaded(tmp_path, monkeypatch, isolated_registries):
    (tmp_path / "recipe_plugin_mod.py").write_text(textwrap.dedent("""
        from mmbench import register_student
        from mmbench.components.students.mf import MFStudent

        @register_student("lab/wide-mf")
        class WideMF(MFStudent):
            '''MF with a different default.'''
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "r.yaml"
    path.write_text("schema_version: 1\nplugins: [recipe_plugin_mod]\ndataset: {name: amazon-beauty}\n"
                    "student: {name: lab/wide-mf, params: {dim: 8}}\n")
    recipe = load_recipe(path)
    assert recipe.student.name == "lab/wide-mf" and recipe.student.params["dim"] == 8


def test_failing_recipe_plugin_is_an_error_at_its_path(tmp_path, isolated_registries):
    issues = errors_of(tmp_path, "schema_version: 1\nplugins: [no_such_plugin_xyz]\n"
                                 "dataset: {name: amazon-beauty}\nstudent: {name: mf}\n")
    assert any("r.yaml:2: plugins[0]: plugin 'no_such_plugin_xyz' (recipe plugins:) failed to import" in i
               for i in issues)


def test_unknown_component_error_names_failed_plugins(tmp_path, monkeypatch, isolated_registries):
    from mmbench.registry import load_entry_point_plugins

    info = tmp_path / "gpu_mm-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gpu_mm\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mmbench.plugins]\ngpu = gpu_mm_plugin_mod\n")
    (tmp_path / "gpu_mm_plugin_mod.py").write_text("raise ImportError('libcudart.so.12: cannot open shared object file')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    load_entry_point_plugins()
    issues = errors_of(tmp_path, "schema_version: 1\ndataset: {name: amazon-beauty}\nstudent: {name: gpu/fast-mf}\n")
    assert any("unknown student 'gpu/fast-mf'" in i and "libcudart.so.12" in i for i in issues)


def test_registries_document_their_contract():
    from mmbench.kinds import KINDS

    for reg in KINDS.values():
        assert reg.__doc__.startswith(f"Registry of {reg.plural}. Contract: ") and len(reg.__doc__) > 60


def test_a_component_appears_once_per_role(tmp_path):
    issues = errors_of(tmp_path, """\
        schema_version: 1
        dataset: {name: amazon-beauty}
        student: {name: mf}
        baselines: [{name: pop}, {name: mf, params: {dim: 8}}, {name: mf, params: {dim: 16}}]
    """)
    assert len(issues) == 1 and "baselines[2].name: baseline 'mf' appears twice (also at baselines[1])" in issues[0]


def test_robustness_rules(tmp_path):
    issues = errors_of(tmp_path, """\
        schema_version: 1
        dataset: {name: amazon-beauty}
        student: {name: lightgcn}
        eval: {robustness: {enabled: true}}
    """)
    assert any("eval.robustness.enabled: robustness masks encoder features, but the recipe has no `encoders:`" in i
               for i in issues)
    issues = errors_of(tmp_path, """\
        schema_version: 1
        dataset: {name: amazon-beauty}
        encoders: {text: {name: minilm}}
        student: {name: lightgcn}
        eval:
          robustness:
            enabled: true
            modalities: [image]
            imputers: [{name: learned-token}, {name: zero}, {name: mean, params: {foo: 1}}]
    """)
    text = "\n".join(issues)
    assert "eval.robustness.modalities[0]: no encoder for modality 'image'" in text
    assert "eval.robustness.imputers[0].params: this imputer has trainable parameters" in text
    assert "eval.robustness.imputers[2].params.foo: unknown parameter of imputer 'mean' (it takes no parameters)" in text
    assert len([i for i in issues if "imputers[2]" in i]) == 1  # one error per problem, never two
    assert not any("imputers[1]" in i for i in issues)
    bad_rate = errors_of(tmp_path, """\
        schema_version: 1
        dataset: {name: amazon-beauty}
        encoders: {text: {name: minilm}}
        student: {name: lightgcn}
        eval: {robustness: {enabled: true, rates: [0.5, 1.5], mask_seeds: 0}}
    """)
    assert any("eval.robustness.rates[1]" in i for i in bad_rate)
    assert any("eval.robustness.mask_seeds" in i for i in bad_rate)


def test_zero_epochs_is_refused_for_the_recipe_and_for_one_model(tmp_path):
    top = errors_of(tmp_path, """\
        schema_version: 1
        dataset: {name: amazon-beauty}
        student: {name: mf}
        train: {epochs: 0}
    """)
    assert any("train.epochs:" in line for line in top), top
    one = errors_of(tmp_path, """\
        schema_version: 1
        dataset: {name: amazon-beauty}
        student: {name: mf, train: {epochs: 0}}
    """)
    assert any("student.train.epochs:" in line for line in one), one


def test_a_csv_dataset_whose_file_does_not_exist_is_invalid(tmp_path):
    issues = errors_of(tmp_path, f"""\
        schema_version: 1
        dataset: {{name: csv, params: {{path: {tmp_path / 'no-such.csv'}}}}}
        student: {{name: mf}}
    """)
    (line,) = [i for i in issues if "dataset.params" in i]
    assert "no-such.csv: file not found" in line and "fix:" in line
