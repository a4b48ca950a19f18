"""The node agent: what a data-center operator runs on each GPU server today.

One firmware instance per GPU (bound to the GPU's NVML UUID and serial),
energy read from NVML, a Unix-socket lease that guarded training processes
must hold, optional hard enforcement (power cap, process suspension), and a
client of the licensing authority. docs/operators.md explains its use.
"""
