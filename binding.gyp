{
  "targets": [
    {
      "target_name": "tilenet",
      "sources": [
        "native/addon.cc",
        "native/common.cc",
        "native/shm.cc",
        "native/futex.cc",
        "native/netns.cc",
        "native/sandbox.cc",
        "native/netlink.cc",
        "native/sockets.cc",
        "native/bpf.cc",
        "native/xsk.cc",
        "native/openat2.cc",
        "native/unix_dgram.cc",
        "native/idle.cc",
        "native/privdrop.cc",
        "native/udp_batch.cc",
        "native/probe6.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"]
    },
    {
      "target_name": "tilenet-exec",
      "type": "executable",
      "sources": ["native/sandbox_exec.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra"]
    },
    {
      "target_name": "tilenet-keeper",
      "type": "executable",
      "sources": ["native/keeper.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra"]
    }
  ]
}
