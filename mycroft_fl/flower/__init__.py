"""The Flower layer: the wire protocol, the strategy, the ClientApp, the ServerApp, simulation."""
