"""Measured generation quality: a per-dataset classifier as the judge, and metrics on its features.

metrics   pure numpy: Fréchet distance, KID, classifier score
evaluator the classifier (trained by the project, cached on disk), features = its penultimate layer
report    images in, numbers out, plus the reference points (real vs real floor, noise)
sampling  draws N images from a generator; training  evaluation every K epochs and the best checkpoint
"""
