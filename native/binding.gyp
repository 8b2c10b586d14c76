{
  "targets": [
    {
      "target_name": "utimens",
      "sources": ["addon/utimens.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
