{
  "targets": [
    {
      "target_name": "fuse3",
      "sources": ["src/bridge.c", "src/delay.c", "src/glob.c", "src/guard.c", "src/inodes.c", "src/inval.c", "src/ops.c", "src/rules.c"],
      "include_dirs": ["<!@(pkg-config --cflags-only-I fuse3 | sed 's/-I//g')"],
      "libraries": ["<!@(pkg-config --libs fuse3)"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror", "-std=gnu11", "-Wno-unused-parameter"]
    }
  ]
}
