"""The chain layer: RPC client, signer, nonces, fees, journal (and its check against the
chain) and the transaction sender.

Plain asyncio and web3.py; no Ray. Nothing here logs or returns a private key.
"""
