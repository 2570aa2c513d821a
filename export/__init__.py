"""Export of a trained generator to SavedModel, TFLite and ONNX, and a TensorFlow-free runtime for the files.

Importing this package imports nothing heavy: `export.runtime` and `export.metadata` (with the `imagegrid` package)
need only numpy (plus onnxruntime / ai-edge-litert / Pillow where used); the exporters import TensorFlow.
"""
