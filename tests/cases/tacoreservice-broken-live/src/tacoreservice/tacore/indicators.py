"""Technical indicators over OHLCV candles, in pure Python.

Series functions return one value per input value, with None where the
window is not yet full, so that index i always refers to candle i.
"""

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Candle:
    timestamp: str
    open: float
    high: float
    low: float
    close: float
    volume: float


def load_ohlcv(path: Path) -> list[Candle]:
    """Read a CSV with the header timestamp,open,high,low,close,volume."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            Candle(
                timestamp=row["timestamp"],
                open=float(row["open"]),
                high=float(row["high"]),
                low=float(row["low"]),
                close=float(row["close"]),
                volume=float(row["volume"]),
            )
            for row in csv.DictReader(handle)
        ]


def sma(values: list[float], period: int) -> list[float | None]:
    """Simple moving average over a sliding window of `period` values."""
    result: list[float | None] = [None] * len(values)
    window_sum = 0.0
    for i, value in enumerate(values):
        window_sum += value
        if i >= period:
            window_sum -= values[i - period]
        if i >= period - 1:
            result[i] = window_sum / period
    return result


def ema(values: list[float], period: int) -> list[float | None]:
    """Exponential moving average, seeded with the SMA of the first `period` values."""
    result: list[float | None] = [None] * len(values)
    if len(values) < period:
        return result
    alpha = 2.0 / (period + 1)
    current = sum(values[:period]) / period
    result[period - 1] = current
    for i in range(period, len(values)):
        current = alpha * values[i] + (1 - alpha) * current
        result[i] = current
    return result


def rsi(values: list[float], period: int = 14) -> list[float | None]:
    """Relative strength index with Wilder's smoothing (0 to 100)."""
    result: list[float | None] = [None] * len(values)
    if len(values) <= period:
        return result

    changes = [values[i] - values[i - 1] for i in range(1, len(values))]
    average_gain = sum(max(change, 0.0) for change in changes[:period]) / period
    average_loss = sum(max(-change, 0.0) for change in changes[:period]) / period
    result[period] = _rsi_value(average_gain, average_loss)

    for i in range(period + 1, len(values)):
        change = changes[i - 1]
        average_gain = (average_gain * (period - 1) + max(change, 0.0)) / period
        average_loss = (average_loss * (period - 1) + max(-change, 0.0)) / period
        result[i] = _rsi_value(average_gain, average_loss)
    return result


def _rsi_value(average_gain: float, average_loss: float) -> float:
    if average_loss == 0.0:
        return 100.0 if average_gain > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + average_gain / average_loss)


def log_return_volatility(values: list[float]) -> float:
    """Sample standard deviation of the log returns between consecutive values."""
    returns = [math.log(values[i] / values[i - 1]) for i in range(1, len(values))]
    if len(returns) < 2:
        return 0.0
    mean = sum(returns) / len(returns)
    return math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))


def scan(candles: list[Candle]) -> dict[str, Any]:
    """Summarise the latest candle: SMA(20), EMA(50), RSI(14) and a trend signal."""
    if len(candles) < 51:
        raise ValueError(f"need at least 51 candles, got {len(candles)}")
    closes = [candle.close for candle in candles]
    last = candles[-1]
    sma_20 = sma(closes, 20)[-1]
    ema_50 = ema(closes, 50)[-1]
    rsi_14 = rsi(closes, 14)[-1]
    assert sma_20 is not None
    assert ema_50 is not None
    assert rsi_14 is not None

    if rsi_14 >= 70:
        signal = "overbought"
    elif rsi_14 <= 30:
        signal = "oversold"
    elif last.close > sma_20 > ema_50:
        signal = "bullish"
    elif last.close < sma_20 < ema_50:
        signal = "bearish"
    else:
        signal = "neutral"

    return {
        "timestamp": last.timestamp,
        "close": round(last.close, 2),
        "sma_20": round(sma_20, 2),
        "ema_50": round(ema_50, 2),
        "rsi_14": round(rsi_14, 2),
        "signal": signal,
    }


def analyze(candles: list[Candle], lookback: int = 24) -> dict[str, Any]:
    """Extend `scan` with range, change, volume and volatility over the last `lookback` candles."""
    summary = scan(candles)
    recent = candles[-lookback:]
    first_close = recent[0].close
    summary.update(
        {
            "lookback": len(recent),
            "high": round(max(candle.high for candle in recent), 2),
            "low": round(min(candle.low for candle in recent), 2),
            "change_pct": round((recent[-1].close - first_close) / first_close * 100, 3),
            "average_volume": round(sum(candle.volume for candle in recent) / len(recent), 3),
            "volatility": round(log_return_volatility([candle.close for candle in recent]), 6),
        }
    )
    return summary
