"""rec: lossy image compression without quantization, by relative entropy coding.

    import rec
    data = rec.compress("photo.png")          # bytes of a .rec file; data.report has the figures
    rgb = rec.decompress(data)                 # RGB uint8 array
    model = rec.load_model("gamma-pln-iso")    # a shipped model
"""

from rec.errors import FormatError, RecError

__all__ = ["FormatError", "RecError", "compress", "decompress", "load_model", "list_models", "__version__"]
__version__ = "0.1.0"


def __getattr__(name):
    # the codec pulls in torch and numba: import it on first use only
    if name in ("compress", "decompress"):
        from rec import codec

        return getattr(codec, name)
    if name in ("load_model", "list_models"):
        from rec.models import zoo

        return getattr(zoo, name)
    raise AttributeError(f"module 'rec' has no attribute {name!r}")
