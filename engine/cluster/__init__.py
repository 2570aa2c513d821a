"""The cluster: which tf.distribute strategy runs the step, and the multi-worker cluster description.

strategies     tf.distribute strategies by name, --cpu-replicas, and whether XLA can compile the step under them
tf_config      TF_CONFIG checked (no TensorFlow import), who the chief is, waiting for the cluster to start
The launcher for N workers on one machine is the command line `python -m engine.launch`.
"""
