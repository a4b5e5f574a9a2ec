"""Word and subword embeddings: GloVe (textseq's own), Word2Vec and FastText (gensim), and
character n-gram embeddings as a torch module. Names load lazily: importing this package
imports neither torch nor gensim."""

from __future__ import annotations

from textseq.lazy import by_submodule, lazy_exports

_EXPORTS = by_submodule(__name__, {
    "cooccur": ("Vocab", "Cooccurrence", "build_vocab", "count_cooccurrences"),
    "glove": ("GloveConfig", "GloveResult", "train_glove"),
    "gensim_train": ("Word2VecConfig", "FastTextConfig", "GensimResult", "train_word2vec", "train_fasttext",
                     "save_fasttext_bin"),
    "charngram": ("CharNgramEmbedding", "FastTextOOV", "fasttext_vector", "char_ngrams", "ft_hash", "ft_hash_batch"),
    "train": ("EmbedConfig", "EmbedResult", "METHODS", "load_embed_config", "prepare_token_file", "train_embeddings"),
    "vectors": ("Vectors", "load_vectors", "cached_vectors"),
    "evaluate": ("evaluate_vectors",),
})

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
