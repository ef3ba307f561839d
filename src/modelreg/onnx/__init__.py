"""Everything that touches ONNX bytes, and the processes that do it.

An ONNX file in a registry is written by a possible attacker, so the parent process never hands
artifact bytes to onnx or onnxruntime: it reads only what it can bound itself (the skeleton and
the external-data references), and every library call runs in a warm, isolated worker.

Public surface, bottom to top:

- :mod:`~modelreg.onnx.skeleton`: a ModelProto without its weights, parsed by modelreg.
- :mod:`~modelreg.onnx.external`: external-data references judged before any library opens them.
- :mod:`~modelreg.onnx.facts`: the facts of an ONNX file (IR, opsets, producer, signature).
- :mod:`~modelreg.onnx.session`: the one way an onnxruntime session is opened.
- :mod:`~modelreg.onnx.vectors`, :mod:`~modelreg.onnx.evaluation`, :mod:`~modelreg.onnx.timing`:
  golden vectors, metrics recomputed from evaluation data, the latency timing loop — all run
  inside a worker.
- :mod:`~modelreg.onnx.worker`: the worker process (``python -m modelreg.onnx.worker serve``).
- :mod:`~modelreg.onnx.isolate`: the pool of workers (timeouts, memory limits, replacement).
- :mod:`~modelreg.onnx.measure`: the parent's requests for latency and metrics through the pool.

Importing this package imports nothing heavy: numpy, onnx and onnxruntime are imported inside
the functions that run in a worker.
"""
