"""The metrics moved below the codecs, to :mod:`rec.metrics` (the codec reports PSNR and MS-SSIM
of what it decodes); this name stays for the evaluation's readers and the scripts."""

from rec.metrics import *  # noqa: F401,F403
from rec.metrics import __all__  # noqa: F401
