"""The step: what runs inside the traced function, and nothing else (no numpy, no Python side effects).

gan            the keras.Model owning G, D, both optimizers, the EMA of G and the step counter
update_orders  the step in cross-replica context: simultaneous, or alternating with n_critic D updates
phases         the per-replica phases of a step: draw fakes, open tapes, return losses and gradients
objectives     what each network minimises (adversarial loss, R1, gradient penalty, class loss, L2), per replica
losses         adversarial losses by name (bce, hinge, lsgan, wgan_gp)
guard          the divergence guard: a phase's non-finite flag, undoing what a skipped step moved
augment        DiffAugment / ADA: the same differentiable augmentation on real and generated images
optimizers     optimizers by name; precision: mixed-precision policies while a network is built
traced         the traced function: N steps per Python call
The run around the step (the eager loop, checkpoints, the run directory) is engine.run.
"""
