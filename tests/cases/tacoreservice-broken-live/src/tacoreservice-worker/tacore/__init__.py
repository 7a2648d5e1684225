"""TACoreService: a trading-analysis core service with ZeroMQ workers."""
