"""Host side of LLVM ORC SimpleRemoteEPC: codec, framing, sans-IO connection, transports,
client. Imports only errors.
"""
