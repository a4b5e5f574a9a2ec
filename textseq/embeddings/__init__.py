"""Word and subword embeddings: GloVe (textseq's own), Word2Vec and FastText (gensim), and
character n-gram embeddings as a torch module. Names load lazily: importing this package
imports neither torch nor gensim."""

from __future__ import annotations

from textseq.lazy import lazy_exports

_EXPORTS = {
    "Vocab": "cooccur", "Cooccurrence": "cooccur", "build_vocab": "cooccur", "count_cooccurrences": "cooccur",
    "GloveConfig": "glove", "GloveResult": "glove", "train_glove": "glove",
    "Word2VecConfig": "gensim_train", "FastTextConfig": "gensim_train", "GensimResult": "gensim_train",
    "train_word2vec": "gensim_train", "train_fasttext": "gensim_train", "save_fasttext_bin": "gensim_train",
    "CharNgramEmbedding": "charngram", "FastTextOOV": "charngram", "fasttext_vector": "charngram",
    "char_ngrams": "charngram", "ft_hash": "charngram", "ft_hash_batch": "charngram",
    "EmbedConfig": "train", "EmbedResult": "train", "METHODS": "train", "load_embed_config": "train",
    "prepare_token_file": "train", "train_embeddings": "train",
    "Vectors": "vectors", "load_vectors": "vectors", "cached_vectors": "vectors", "evaluate_vectors": "evaluate",
}

__getattr__, __all__ = lazy_exports(__name__, {name: f"{__name__}.{module}" for name, module in _EXPORTS.items()})
