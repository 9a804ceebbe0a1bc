"""Interoperability with other recommendation toolkits (RecBole); imported on demand, never by ``mmbench``."""
