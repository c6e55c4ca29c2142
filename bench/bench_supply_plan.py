"""Supply-plan benchmark: the plan (warehouse/supply_plan.py) for a large seller — 10 000 products ×
30 destinations by default — from the stock model's rows to the sorted plan, with box multiples,
lead-time overrides and exclusions set, as a sync and `GET /api/v1/supply-plan` compute it.
Two sizes side by side so the ratio shows how it scales. Target: under 0.5 s at 10 000 × 30.

    uv run python bench/bench_supply_plan.py [--products 1000 10000] [--destinations 30] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date

import polars as pl

from warehouse.supply_plan import build_inputs, compute_plan
from warehouse.supply_settings import SupplySettings


def synthesize(products: int, destinations: int, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stock-model rows: half the destinations Ozon clusters (two warehouses each), half WB
    warehouses, a few FBS; and Ozon's cluster rows with 28-day rates for most of them."""
    rng = random.Random(seed)
    metrics, clusters = [], []
    ozon_clusters = destinations // 2
    for p in range(products):
        for d in range(destinations):
            if d < ozon_clusters:
                for w in range(2):
                    name = f"OZ_{d}_{w}"
                    stock, orders = rng.randint(0, 200), rng.randint(0, 40)
                    metrics.append(("ozon", 1_000_000 + p, f"A-{p}", "Товар", name, "FBO", stock, orders, 0))
                    ads = None if rng.random() < 0.2 else round(orders / 7, 2)
                    clusters.append(
                        (1_000_000 + p, name, f"Кластер {d}", rng.randint(0, 20), rng.randint(0, 10), ads)
                    )
            else:
                kind = "FBS" if d >= destinations - 2 else "FBO"
                stock, orders = rng.randint(0, 200), rng.randint(0, 40)
                returns = rng.randint(0, 3) if kind == "FBO" else 0  # on their way back: in transit
                metrics.append(
                    ("wildberries", 5_000_000 + p, f"W-{p}", "Товар", f"WB_{d}", kind, stock, orders, returns)
                )
    metric_frame = pl.DataFrame(
        metrics,
        schema=[
            "marketplace",
            "product_id",
            "article",
            "title",
            "warehouse_name",
            "warehouse_kind",
            "stock",
            "orders",
            "in_way_from_client",
        ],
        orient="row",
    )
    cluster_frame = pl.DataFrame(
        clusters,
        schema={
            "product_id": pl.Int64,
            "warehouse_name": pl.String,
            "cluster_name": pl.String,
            "in_transit": pl.Int64,
            "requested": pl.Int64,
            "ads_cluster": pl.Float64,
        },
        orient="row",
    )
    return metric_frame, cluster_frame


def settings_for(products: int) -> SupplySettings:
    return SupplySettings.model_validate(
        {
            "target_cover_days": 30,
            "destination_lead_times": [
                {"marketplace": "ozon", "destination": f"Кластер {d}", "days": 5 + d} for d in range(5)
            ],
            "box_multiples": [
                {"marketplace": "ozon", "product_id": 1_000_000 + p, "multiple": 12}
                for p in range(0, products, 3)
            ],
            "excluded_products": [
                {"marketplace": "wildberries", "product_id": 5_000_000 + p} for p in range(0, products, 50)
            ],
        }
    )


def measure(products: int, destinations: int, repeat: int) -> tuple[int, float, float, float]:
    metrics, clusters = synthesize(products, destinations)
    settings = settings_for(products)
    today = date(2026, 11, 30)
    inputs_times, plan_times, cpu_times, rows = [], [], [], 0
    for _ in range(repeat):
        cpu = time.process_time()
        start = time.perf_counter()
        inputs = build_inputs(metrics, clusters, 7)
        middle = time.perf_counter()
        plan = compute_plan(inputs, settings, today)
        end = time.perf_counter()
        cpu_times.append(time.process_time() - cpu)
        inputs_times.append(middle - start)
        plan_times.append(end - middle)
        rows = plan.height
    return rows, min(inputs_times), min(plan_times), min(cpu_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--destinations", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = []
    # Wall time (best of N) and CPU time of the whole computation: on a shared, busy machine the
    # CPU time says what the computation costs, the wall time what a caller waited.
    titles = ("products", "dest.", "plan rows", "inputs s", "plan s", "total s", "cpu s")
    print(" ".join(f"{t:>{w}}" for t, w in zip(titles, (9, 6, 10, 9, 8, 8, 6), strict=True)))
    for products in args.products:
        rows, inputs_s, plan_s, cpu_s = measure(products, args.destinations, args.repeat)
        total = inputs_s + plan_s
        results.append((products, total))
        width = args.destinations
        print(
            f"{products:>9} {width:>6} {rows:>10} {inputs_s:>9.3f} {plan_s:>8.3f} {total:>8.3f} {cpu_s:>6.3f}"
        )
    if len(results) > 1:
        (small, t_small), (large, t_large) = results[0], results[-1]
        print(f"ratio {large // small}× products → {t_large / t_small:.1f}× time (best of {args.repeat})")


if __name__ == "__main__":
    main()
