"""kserve.model_server: the command-line parser KServe's model servers share, and ModelServer,
which serves kserve.Model instances on the project's C HTTP server (libkserve-sdk.so).

As in KServe, `parser` is meant as a parent parser:

    parser = argparse.ArgumentParser(parents=[model_server.parser])
    args, _ = parser.parse_known_args()

and ModelServer's defaults come from this process's command line (`args` below), so
`kserve.ModelServer().start([model])` listens on `--http_port`.
"""
import argparse
import asyncio
import concurrent.futures
import inspect
import signal
import sys
import threading
from typing import Dict, List, Optional, Union

from .constants.constants import DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT
from .logging import KSERVE_LOG_CONFIG, configure_logging as _configure_logging, logger
from .model import BaseKserveModel
from .model_repository import ModelRepository
from .utils import utils


class _SoftOption(str):
    """An option string that a child parser may define again without argparse's "conflicting
    option string" error. Code written for KServe 0.11 adds --model_name, --predictor_host and
    --protocol to a parser with `parents=[model_server.parser]` (where KServe 0.12+ defines them
    in the parent): both kinds of code run here. It equals its text everywhere except in
    argparse's conflict check; a child's own definition then replaces it for parsing."""

    __slots__ = ()

    def __eq__(self, other):
        if sys._getframe(1).f_code.co_name == "_check_conflict":
            return self is other
        return str.__eq__(self, other)

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = str.__hash__


def _soft(parser: argparse.ArgumentParser, flag: str, default, **kwargs):
    dest = flag.lstrip("-")
    parser.add_argument(_SoftOption(flag), dest=dest, default=argparse.SUPPRESS, **kwargs)
    # the default lives in the parser's defaults: a child's own definition of the flag (with its
    # own default) is then the one that counts
    parser._defaults[dest] = default


parser = argparse.ArgumentParser(add_help=False)
# the model server's flags, as KServe 0.11-0.13 has them
parser.add_argument("--http_port", default=DEFAULT_HTTP_PORT, type=int,
                    help="The HTTP Port listened to by the model server.")
parser.add_argument("--grpc_port", default=DEFAULT_GRPC_PORT, type=int,
                    help="The GRPC Port listened to by the model server (accepted; gRPC is not served).")
parser.add_argument("--workers", default=1, type=int,
                    help="Event-loop threads of the C HTTP server (at least one per core are started).")
parser.add_argument("--max_threads", default=4, type=int, help="The max number of gRPC processing threads.")
parser.add_argument("--max_asyncio_workers", default=None, type=int,
                    help="The max number of asyncio workers to spawn.")
parser.add_argument("--enable_grpc", default=True, type=lambda x: utils.strtobool(x),
                    help="Enable gRPC for the model server (accepted; gRPC is not served).")
parser.add_argument("--enable_docs_url", default=False, type=lambda x: utils.strtobool(x),
                    help="Enable docs url '/docs' (accepted; not served).")
parser.add_argument("--enable_latency_logging", default=True, type=lambda x: utils.strtobool(x),
                    help="Output a log per request with latency metrics.")
parser.add_argument("--configure_logging", default=True, type=lambda x: utils.strtobool(x),
                    help="Whether to configure KServe logging.")
parser.add_argument("--log_config_file", default=None, type=str,
                    help="File path containing a logging dictConfig (yaml or json).")
parser.add_argument("--access_log_format", default=None, type=str,
                    help="The access logging format (accepted; not used).")
# the model's flags (KServe 0.12+): a child parser may define them again, as 0.11-era code does
_soft(parser, "--model_name", "model", type=str, help="The name of the model used on the endpoint path.")
_soft(parser, "--predictor_host", None, type=str,
      help="The host name used for calling to the predictor from transformer.")
_soft(parser, "--protocol", "v1", type=str, choices=["v1", "v2", "grpc-v2"],
      help="The inference protocol used for calling to the predictor from transformer.")
_soft(parser, "--predictor_protocol", "v1", type=str, choices=["v1", "v2", "grpc-v2"],
      help="The inference protocol used for calling to the predictor from transformer.")
_soft(parser, "--predictor_use_ssl", False, type=lambda x: utils.strtobool(x),
      help="Use ssl for the http connection to the predictor.")
_soft(parser, "--predictor_request_timeout_seconds", 600, type=int,
      help="The timeout seconds for the request sent to the predictor.")
# not KServe's: where to listen (KServe listens on every address)
_soft(parser, "--http_host", "0.0.0.0", type=str, help="The address the HTTP server listens on.")

args, _ = parser.parse_known_args()

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)


def _set_result(fut, value):
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut, exc):
    if not fut.done():
        fut.set_exception(exc)


class _SdkThread:
    """The thread that owns the C server: the SDK wants start and stop on one thread, and the
    thread that runs the event loop must stay free to finish requests while the server drains."""

    def __init__(self, loop, make_server):
        self._loop = loop
        self._make_server = make_server
        self.started = loop.create_future()  # the port, or the exception that stopped the start
        self.stopped = loop.create_future()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="kserve-sdk", daemon=True)
        self._thread.start()

    def _main(self):
        try:
            server = self._make_server()
            server.start()
        except BaseException as e:  # noqa: BLE001 - handed to the loop
            self._loop.call_soon_threadsafe(_set_exception, self.started, e)
            self._loop.call_soon_threadsafe(_set_result, self.stopped, None)
            return
        self._loop.call_soon_threadsafe(_set_result, self.started, server.port)
        self._stop.wait()
        try:
            server.stop()
        finally:
            self._loop.call_soon_threadsafe(_set_result, self.stopped, None)

    async def stop(self):
        self._stop.set()
        await self.stopped
        self._thread.join()


class ModelServer:
    """Serves models over KServe's V1 and V2 REST protocols on the project's C server."""

    def __init__(self, http_port: int = args.http_port, grpc_port: int = args.grpc_port,
                 workers: int = args.workers, max_threads: int = args.max_threads,
                 max_asyncio_workers: Optional[int] = args.max_asyncio_workers,
                 registered_models: Optional[ModelRepository] = None, enable_grpc: bool = args.enable_grpc,
                 enable_docs_url: bool = args.enable_docs_url,
                 enable_latency_logging: bool = args.enable_latency_logging,
                 configure_logging: bool = args.configure_logging,
                 log_config: Optional[Union[Dict, str]] = args.log_config_file,
                 access_log_format: Optional[str] = args.access_log_format,
                 http_host: str = args.http_host, **kwargs):
        self.registered_models = registered_models if registered_models is not None else ModelRepository()
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.workers = workers
        self.max_threads = max_threads
        self.max_asyncio_workers = max_asyncio_workers
        self.enable_grpc = enable_grpc
        self.enable_docs_url = enable_docs_url
        self.enable_latency_logging = enable_latency_logging
        self.configure_logging = configure_logging
        self.log_config = log_config
        self.access_log_format = access_log_format
        self.http_host = http_host
        self.port = None  # the port listened on, once serving
        self._loop = None
        self._stop_event = None
        self._custom_exception_handler = None

    def register_model(self, model: BaseKserveModel):
        if not model.name:
            raise Exception("Failed to register model, model.name must be provided.")
        self.registered_models.update(model)
        logger.info("Registering model: %s", model.name)

    def register_exception_handler(self, handler):
        """Set the event loop's exception handler: handler(loop, context)."""
        self._custom_exception_handler = handler

    def default_exception_handler(self, loop, context):
        loop.default_exception_handler(context)

    def start(self, models: List[BaseKserveModel]) -> None:
        """Serve until SIGTERM, SIGINT or SIGQUIT (or stop()), then stop gracefully and return.

        As in KServe, the handlers run on an asyncio event loop on this thread; the C server
        answers HTTP on its own threads. It serves one model name: give one model."""
        if not isinstance(models, list):
            raise RuntimeError("Unknown model collection types")
        for model in models:
            if not isinstance(model, BaseKserveModel):
                raise RuntimeError("Model type should be 'BaseKserveModel'")
            self.register_model(model)
            model.enable_latency_logging = self.enable_latency_logging
        if len(self.registered_models.get_models()) != 1:
            raise RuntimeError("this kserve package serves exactly one model per ModelServer (got %d)"
                               % len(self.registered_models.get_models()))
        if self.configure_logging:
            _configure_logging(self.log_config)
        model = next(iter(self.registered_models.get_models().values()))
        asyncio.run(self._serve(model))

    async def _serve(self, model):
        from . import _dispatch, _sdk

        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop_event = asyncio.Event()
        if self.max_asyncio_workers is None:
            self.max_asyncio_workers = min(32, utils.cpu_count() + 4)
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=self.max_asyncio_workers))
        loop.set_exception_handler(self._custom_exception_handler or self.default_exception_handler)
        handled = []
        if threading.current_thread() is threading.main_thread():
            for sig in _STOP_SIGNALS:
                loop.add_signal_handler(sig, self._on_signal, sig)
                handled.append(sig)
        runner = _dispatch.LoopRunner(loop)
        dispatcher = _dispatch.Dispatcher(model, runner)

        def load():
            # the SDK calls this on its thread; the model loads on the loop's, as in KServe
            async def _load():
                if not model.ready:
                    ok = model.load()
                    if inspect.isawaitable(ok):
                        ok = await ok
                    if ok is False or not model.ready:
                        raise RuntimeError(f"model {model.name} failed to load (ready is False)")
            runner.run(_load())

        options = {
            "http_port": self.http_port,
            "http_host": self.http_host,
            "workers": max(int(self.workers or 1), utils.cpu_count()),
            "model_name": model.name,
        }
        sdk = _SdkThread(loop, lambda: _sdk.Server(options, dispatcher.handle, load))
        try:
            try:
                self.port = await sdk.started
            except BaseException:
                await sdk.stopped
                raise
            try:
                logger.info("Serving model %s over V1 and V2 REST on http://%s:%d", model.name, self.http_host,
                            self.port)
                start = getattr(model, "start", None)
                if callable(start):
                    r = start()
                    if inspect.isawaitable(r):
                        await r
                await self._stop_event.wait()
                logger.info("Stopping the model server")
            finally:
                await sdk.stop()  # requests in flight finish: this loop keeps running them meanwhile
            stop = getattr(model, "stop", None)
            if callable(stop):
                r = stop()
                if inspect.isawaitable(r):
                    await r
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
            self._loop = None

    def _on_signal(self, sig):
        logger.info("Received %s", signal.Signals(sig).name)
        self._stop_event.set()

    async def stop(self, sig: Optional[int] = None):
        """Stop a running start() gracefully (from a handler, or any thread via the loop)."""
        loop = self._loop
        if loop is None:
            return
        if asyncio.get_running_loop() is loop:
            self._stop_event.set()
        else:
            loop.call_soon_threadsafe(self._stop_event.set)


__all__ = ["ModelServer", "parser", "args", "KSERVE_LOG_CONFIG"]
