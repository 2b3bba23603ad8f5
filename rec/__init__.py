"""rec: lossy image compression without quantization, by relative entropy coding."""

from rec.errors import FormatError, RecError

__all__ = ["FormatError", "RecError"]
__version__ = "0.1.0"
