"""THE single list of built-in components: importing this module registers every one of them.

Add a new built-in here, in its kind's block; nothing is discovered implicitly.
"""

from mmbench.data import amazon_beauty, csv_dataset  # noqa: F401  datasets: amazon-beauty, csv
from mmbench.data import atomic, gowalla, lastfm, movielens_100k, synthetic, tiktok  # noqa: F401  datasets: atomic, gowalla, lastfm, movielens-100k, synthetic, tiktok
from mmbench.data import amazon_reviews_2023  # noqa: F401  dataset: amazon-reviews-2023
from mmbench.metrics import ranking  # noqa: F401  metrics: hr, recall, ndcg, mrr
from mmbench.components.encoders import bert, clip_text, minilm  # noqa: F401  encoders: bert, clip-text, minilm
# encoders: clip-image, efficientnet-lite0, resnet50, timm
from mmbench.components.encoders import clip_image, efficientnet_lite0, resnet50, timm_image  # noqa: F401
from mmbench.components.encoders import precomputed  # noqa: F401  encoders: precomputed
from mmbench.components.students import lightgcn, mf, pop  # noqa: F401  students: lightgcn, mf, pop
# students: recbole/bpr, recbole/dgcf, recbole/ease, recbole/itemknn, recbole/lightgcn, recbole/multivae,
# recbole/ngcf, recbole/pop, recbole/sgl, recbole/simplex, recbole/slimelastic, recbole/spectralcf
from mmbench.components.students import recbole  # noqa: F401
# teachers: bm3, freedom, lgmrec, mgcn, mm-gnn, smore, vbpr
from mmbench.components.teachers import bm3, freedom, lgmrec, mgcn, mm_gnn, smore, vbpr  # noqa: F401
from mmbench.components.fusion import concat, cross_attention, gated  # noqa: F401  fusion: concat, cross-attention, gated
# imputers: learned-token, mean, neighbor-mean, zero
from mmbench.components.imputers import learned_token, mean, neighbor_mean, zero  # noqa: F401
# distill losses: contrastive, embedding, listwise-kl, ranking-rd, rrd
from mmbench.components.distill import contrastive, embedding, listwise_kl, ranking_rd, rrd  # noqa: F401
