"""Delivery channels: one per connector type, each turning a rendered alert into a send."""
