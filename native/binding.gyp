{
  "targets": [
    {
      "target_name": "utimens",
      "sources": [
        "addon/utimens.c"
      ],
      "cflags": [
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror"
      ]
    },
    {
      "target_name": "fsops",
      "sources": [
        "addon/fsops.c"
      ],
      "cflags": [
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror"
      ]
    }
  ]
}
