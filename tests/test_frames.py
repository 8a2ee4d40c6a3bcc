"""frames: own code vs standard library, and one spelling of function names."""

from __future__ import annotations

import pytest

from leaksleuth.profile.frames import (
    goroutine_function,
    group_frame,
    import_path,
    is_runtime,
    is_stdlib,
    normalize_function,
    own_frame,
    site_function,
    unsymbolized_name,
)


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("main.worker(0xc000012345, 0x3)", "main.worker"),
        ("main.worker(...)", "main.worker"),
        ("main.worker()", "main.worker"),
        ("main.worker", "main.worker"),
        ("main.(*Store).Put(0xc0000a0000, {0x7a81c0, 0x3ab063de4000})", "main.(*Store).Put"),
        ("main.(*Store).Put", "main.(*Store).Put"),
        ("main.main.func1()", "main.main.func1"),
        ("main.main.func1.1(0x1?)", "main.main.func1.1"),
        ("main.waitOn[...](0x0?)", "main.waitOn[...]"),
        ("main.waitOn[go.shape.string]", "main.waitOn[...]"),
        ("main.Map[go.shape.string,go.shape.[]uint8].Put", "main.Map[...].Put"),
        ("main.F[map[string][]int](0x1)", "main.F[...]"),
        ("slices.Grow[go.shape.[]uint8,go.shape.uint8]", "slices.Grow[...]"),
        ("created by main.main in goroutine 1", "main.main"),
        ("created by net/http.(*Server).Serve", "net/http.(*Server).Serve"),
        ("panic({0x6b2ae0?, 0xc000012345?})", "panic"),
        ("  net/http.(*conn).serve(0xc0001, {0x7aad58, 0xc0002})  ", "net/http.(*conn).serve"),
        ("main.F[", "main.F[...]"),  # cut off: still one spelling, no crash
    ],
)
def test_normalize_function(raw: str, want: str) -> None:
    assert normalize_function(raw) == want


def test_text_and_protobuf_spellings_meet() -> None:
    # debug=2 prints args and [...]; pprof protobuf prints go.shape instantiations
    assert normalize_function("main.waitOn[...](0x0?)") == normalize_function(
        "main.waitOn[go.shape.string]"
    )


@pytest.mark.parametrize(
    "name",
    [
        "runtime.gopark",
        "runtime.makeBucketArray",
        "internal/runtime/maps.newTable",
        "net/http.(*Transport).roundTrip",
        "sync.(*WaitGroup).Wait",
        "time.Sleep",
        "internal/poll.runtime_pollWait",
        "slices.Grow[go.shape.[]uint8,go.shape.uint8]",
        "net/http.(*connReader).startBackgroundRead.gowrap2",
    ],
)
def test_stdlib(name: str) -> None:
    assert is_stdlib(name)


@pytest.mark.parametrize(
    "name",
    [
        "main.f",
        "main.(*Store).Put",
        "main.main.func1",
        "main.F[...]",
        "github.com/x/y.F",
        "github.com/x/y.(*T).m",
        "gopkg.in/yaml.v2.Unmarshal",
        "example.com/svc/internal/cache.(*LRU).Add",
        "go.uber.org/zap.(*Logger).Info",
        "golang.org/x/net/http2.(*serverConn).serve",  # x/ is not the standard library
        "main.F[net/http.Header]",  # a slash inside brackets is not a path
    ],
)
def test_not_stdlib(name: str) -> None:
    assert not is_stdlib(name)


def test_module_without_dot_can_be_claimed() -> None:
    assert is_stdlib("myservice/internal/handler.Serve")
    assert not is_stdlib("myservice/internal/handler.Serve", module="myservice")
    assert not is_stdlib("myservice.Run", module="myservice")
    assert is_stdlib("myservicex/a.F", module="myservice")  # prefix must end at a slash


def test_import_path() -> None:
    assert import_path("net/http.(*Transport).roundTrip") == "net/http"
    assert import_path("github.com/x/y.(*T).m") == "github.com/x/y"
    assert import_path("main.main.func1") == "main"
    assert import_path("internal/runtime/maps.newTable") == "internal/runtime/maps"


def test_is_runtime() -> None:
    assert is_runtime("runtime.growslice")
    assert is_runtime("internal/runtime/maps.newTable")
    assert not is_runtime("runtime/pprof.writeHeap")
    assert not is_runtime("main.runtime")


def test_own_frame_innermost_own() -> None:
    stack = [
        "runtime.gopark",
        "runtime.chanrecv1",
        "net/http.(*persistConn).roundTrip",
        "github.com/acme/client.(*C).Do(0xc000, 0x1)",
        "main.handler",
    ]
    assert own_frame(stack) == "github.com/acme/client.(*C).Do"


def test_stacks_without_own_code_are_named_by_what_they_are() -> None:
    stack = ["runtime.gopark", "internal/poll.(*FD).Read", "net/http.(*conn).serve",
             "runtime.goexit"]
    assert own_frame(stack) == "" and own_frame([]) == ""
    assert site_function(stack) == "internal/poll.(*FD).Read"  # innermost below the runtime
    assert goroutine_function(stack) == "net/http.(*conn).serve"  # the start function
    assert group_frame(stack) == "internal/poll.(*FD).Read"
    only_runtime = ["runtime.gopark", "runtime.forcegchelper"]
    assert site_function(only_runtime) == "runtime.gopark"
    assert goroutine_function(only_runtime) == "runtime.gopark"
    assert group_frame(only_runtime) == "runtime.forcegchelper"
    assert site_function([]) == goroutine_function([]) == "?" and group_frame([]) == ""


def test_unsymbolized_frames_are_not_own_code() -> None:
    pc = unsymbolized_name(0x4A3B2C)
    assert pc == "0x4a3b2c" and is_stdlib(pc) and own_frame([pc, "main.f"]) == "main.f"
    assert site_function([pc]) == pc


def test_own_frame_module() -> None:
    stack = ["sync.(*Mutex).Lock", "svc/store.(*S).Put", "main.main"]
    assert own_frame(stack) == "main.main"
    assert own_frame(stack, module="svc") == "svc/store.(*S).Put"
