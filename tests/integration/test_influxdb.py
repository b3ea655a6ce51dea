"""InfluxDB from the local stack: write and query with influxdb-client, tokens enforced."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.client.write.point import Point

from carepulse.settings import StackSettings

pytestmark = pytest.mark.influxdb


def client_for(settings: StackSettings, token: str | None = None) -> InfluxDBClientAsync:
    return InfluxDBClientAsync(
        url=settings.influx_url,
        token=token if token is not None else settings.influx_token.get_secret_value(),
        org=settings.influx_org,
    )


async def test_server_is_ready(influxdb: StackSettings) -> None:
    """The stack's InfluxDB answers ping."""
    async with client_for(influxdb) as client:
        assert await client.ping()


async def test_write_then_query_a_point(influxdb: StackSettings, unique: str) -> None:
    """A point written through the v2 API comes back from a Flux query."""
    measurement = f"test_{unique}"
    at = datetime(2026, 11, 27, 7, 30, tzinfo=UTC)
    point = (
        Point(measurement)
        .tag("station", "st-001")
        .tag("kind", "blood_pressure")
        .field("systolic_mmhg", 138.0)
        .time(at)
    )
    async with client_for(influxdb) as client:
        assert await client.write_api().write(bucket=influxdb.influx_bucket, record=point)
        tables = await client.query_api().query(
            f'from(bucket: "{influxdb.influx_bucket}")'
            " |> range(start: 2026-11-27T00:00:00Z, stop: 2026-11-28T00:00:00Z)"
            f' |> filter(fn: (r) => r._measurement == "{measurement}")'
        )
    records = [record for table in tables for record in table.records]
    assert len(records) == 1
    assert records[0].get_value() == 138.0
    assert records[0].get_field() == "systolic_mmhg"
    assert records[0].values["station"] == "st-001"
    assert records[0].get_time() == at


async def test_wrong_token_is_unauthorised(influxdb: StackSettings) -> None:
    """Writes with a token the server does not know fail with 401."""
    async with client_for(influxdb, token="not-a-token") as client:
        with pytest.raises(InfluxDBError) as caught:
            await client.write_api().write(bucket=influxdb.influx_bucket, record="probe value=1i")
    assert caught.value.response.status == 401
