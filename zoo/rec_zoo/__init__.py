"""The model pack of rec: its trained models beside the default one (which ships inside rec).

A zoo folder like rec's own (``<name>.safetensors`` fp16 weights, described and hash-checked
by ``index.json``), packaged on its own so that rec's code wheel stays small; rec finds it by
importing this package. Install it from the repository with ``pip install ./zoo``.
"""
