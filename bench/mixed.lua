-- wrk script: a reader mix of the public pages, one path per request in turn.
-- The paths come from the environment (BENCH_PATHS, space-separated) so run.py owns the list.
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS") or "/", "%S+") do
  table.insert(paths, p)
end
local counter = 0

request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
