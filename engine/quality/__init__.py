"""Measured generation quality: a per-dataset classifier as the judge, and metrics on its features.

metrics   pure numpy: Fréchet distance, KID, classifier score, class balance
manifold  pure numpy: k-NN precision/recall and density/coverage
evaluator the classifier (shipped for Fashion-MNIST, else trained and cached), features = its penultimate layer
report    images in, numbers out, plus the reference points (real vs real floor, noise); make_judge picks the judge
pixels    a download-free feature space: PCA of the pixels and of their detail band, fitted on real images
folder_judge  an image folder's judge: pixel features, one half of the folder the reference, the other the floor
sampling  draws N images from a generator; training  evaluation every K epochs and the best checkpoint
"""
