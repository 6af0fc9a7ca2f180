"""The optimizer's gRPC API: the .proto source and the stubs generated from it.

Regenerate the stubs with ``python -m protos.generate`` after editing a .proto file;
a test fails when the committed stubs are stale.
"""
