"""textseq: text preprocessing, embeddings and recurrent sequence models on real corpora.

Nothing heavy is imported here: spaCy, torch and friends load only when a stage or model that
needs them is used.
"""

__version__ = "0.1.0"

from textseq.errors import ConfigError, InputError, ResourceMissingError, TextseqError

__all__ = ["ConfigError", "InputError", "ResourceMissingError", "TextseqError", "__version__"]
