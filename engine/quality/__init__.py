"""Measured generation quality: a per-dataset classifier as the judge, and metrics on its features.

metrics   pure numpy: Fréchet distance, KID, classifier score, class balance
manifold  pure numpy: k-NN precision/recall and density/coverage
evaluator the classifier (shipped for Fashion-MNIST, else trained and cached), features = its penultimate layer
report    images in, numbers out, plus the reference points (real vs real floor, noise)
sampling  draws N images from a generator; training  evaluation every K epochs and the best checkpoint
"""
