"""The server's promises the adapters rely on: a token on every request, and kill -9 recovery with the same selections."""

from __future__ import annotations

import json
import threading
import time
import unittest
import urllib.error
import urllib.request

import shared
import test_verl
import verl_driver
from helpers import STEPS, SpyClient
from zpd_curriculum.client import ZpdClient, ZpdConnectionError, ZpdServerError
from zpd_curriculum.verl import ZpdCurriculumSampler

KILL_BEFORE_OBSERVE = 12  # global step whose batch is selected, then the server dies before update()
KILL_WHILE_RETRYING = 31  # the server dies and comes back while the adapter's next call is retrying


def raw(url: str, method: str, path: str, headers: dict, body: object = None) -> tuple:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class ServerContractTest(unittest.TestCase):
    def test_a_request_without_the_token_is_refused(self) -> None:
        server = shared.server()
        routes = [("GET", "/v1/health", None), ("POST", "/v1/select", {"cursor": 0, "batch_size": 8}),
                  ("GET", "/v1/state", None), ("POST", "/v1/observe", {"cursor": 0, "groups": []})]
        for method, path, body in routes:
            for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": server.token}):
                status, reply = raw(server.url, method, path, headers, body)
                self.assertEqual(status, 401, f"{method} {path} with {headers}")
                self.assertEqual(reply["error"]["code"], "unauthorized")
        # nothing was selected by the refused calls
        status, health = raw(server.url, "GET", "/v1/health", {"Authorization": f"Bearer {server.token}"})
        self.assertEqual((status, health["selected"], health["observed"]), (200, -1, -1))
        with self.assertRaises(ZpdServerError) as caught:
            ZpdClient(server.url, "wrong").select(0, 8)
        self.assertEqual((caught.exception.route, caught.exception.status), ("POST /v1/select", 401))
        self.assertIn("POST /v1/select -> 401 unauthorized", str(caught.exception))

    def test_unreachable_server_is_named_after_the_retry_budget(self) -> None:
        client = ZpdClient("http://127.0.0.1:9", "token", retry_for=0.3)
        with self.assertRaisesRegex(ZpdConnectionError, r"POST /v1/observe: no answer from http://127.0.0.1:9"):
            client.observe(0, [])
        self.assertGreater(client.attempts, 1)

    def test_kill9_and_restart_from_state_dir_gives_the_uninterrupted_selections(self) -> None:
        reference, reference_client, _, _ = test_verl.uninterrupted()
        server = shared.fresh_server()  # its own process and state DIR: it gets killed
        client = SpyClient(server.url, server.token, retry_for=120.0)
        sampler = ZpdCurriculumSampler(
            verl_driver.FakeRLHFDataset(120), verl_driver.data_config(server.url, server.token), client=client
        )
        restarts = []

        def chaos(global_step: int) -> None:
            if global_step == KILL_BEFORE_OBSERVE:
                server.kill9()
                server.restart()
                restarts.append(global_step)
            elif global_step == KILL_WHILE_RETRYING:
                server.kill9()
                attempts = client.attempts

                def later() -> None:
                    time.sleep(0.5)
                    server.restart()

                thread = threading.Thread(target=later)
                thread.start()
                restarts.append((global_step, attempts, thread))

        run = verl_driver.fit(sampler, shared.learner(), STEPS, between=chaos)
        restarts[1][2].join()
        self.assertEqual(len(restarts), 2)
        self.assertGreater(client.attempts - restarts[1][1], 2, "the adapter retried while the server was down")
        self.assertEqual(run.selections, reference.selections)
        self.assertEqual(client.observed, reference_client.observed)
        self.assertEqual(server.client().health()["observed"], STEPS - 1)


if __name__ == "__main__":
    unittest.main()
