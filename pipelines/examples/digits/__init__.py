"""The ``digits`` example pipeline: its spec (``pipeline.json``) and its step scripts.

prepare -> train-mlp | train-cnn -> evaluate-mlp | evaluate-cnn -> select-best

Each step is ``python -m pipelines.examples.digits.<module>``, reading its inputs, outputs and
parameters from ``TRELLIS_*`` variables (``runtime``). The architectures live once in ``nets``.
"""
