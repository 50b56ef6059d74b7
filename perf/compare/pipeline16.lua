-- pipeline16.lua: wrk script that sends HTTP/1.1 requests pipelined, DEPTH
-- at a time on every connection (wrk writes the batch in one write and then
-- reads the DEPTH responses; it counts every response as one request).
--
--   wrk -t1 -c50 -d5s -s perf/compare/pipeline16.lua http://127.0.0.1:PORT/ -- 16 /
--
-- Script arguments (after "--"): DEPTH (default 16) and PATH (default "/").
-- Written for perf/compare/compare.py.

local batch

function init(args)
  local depth = tonumber(args[1] or "") or 16
  local path = args[2] or "/"
  if depth < 1 then depth = 1 end
  local one = wrk.format("GET", path)
  batch = string.rep(one, depth)
end

function request()
  return batch
end
