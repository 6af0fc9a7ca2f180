"""Nhịp: adaptive traffic-signal control for Đồng Nai, validated in SUMO."""

__version__ = "0.1.0"
