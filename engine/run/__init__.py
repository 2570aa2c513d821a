"""The run around the step: everything eager (the loop, the run directory, logs, checkpoints, stopping, side work).

stepper        set_up (data, plan, models; nothing written yet) and make_stepper (the traced step over the data)
loop           the eager training loop: calls the traced step, does the side work between calls, resumes
layout         the run directory's names; directory: making one; reading: reading one back
logs           metrics.jsonl and TensorBoard scalars; checkpoints: saving and restoring whole ones
stopping       SIGTERM / SIGINT ask the loop to stop at a step boundary and save
progress_gif   the training GIF; evaluation: FID and friends during training
folder_plan    a folder of images: the shape and model picked from its headers, and the line that says so
The step itself is engine.step; strategies and TF_CONFIG are engine.cluster.
"""
