"""The run around the step: everything eager (the loop, the run directory, logs, checkpoints, stopping, side work).

stepper        set_up (data, plan, models; nothing written yet) and make_stepper (the traced step over the data)
loop           the eager training loop: calls the traced step, runs the actions between calls, resumes
actions        the side work as objects with their own period: evaluate, log, grids, the GIF, checkpoint
layout         the run directory's names; directory: making one; reading: reading one back
logs           metrics.jsonl and TensorBoard scalars; checkpoints: saving and restoring whole ones
stopping       SIGTERM / SIGINT ask the loop to stop at a step boundary and save
progress       the progress bar: tqdm.auto's (a widget in Jupyter, text elsewhere)
progress_gif   the training GIF; evaluation: FID and friends during training
folder_plan    a folder of images: the shape, model and length picked for it, and the lines that say so
data_record    what a run trained on (folder, classes, a fingerprint of its files), checked on --resume
The step itself is engine.step; strategies and TF_CONFIG are engine.cluster.
"""
