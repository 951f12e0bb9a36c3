-- wrk script of bench/ledger.py's HTTP phases (bench/http_load.py writes WORKFILE, runs
--   wrk --threads N --connections N --duration T --script bench/http_load.lua URL -- WORKFILE
-- and reads the JSON line this prints at the end).
-- One connection per wrk thread, so thread i is client i of the Python load generator: it
-- posts its own requests one after the other, each with an Idempotency-Key of its own.
-- WORKFILE: the mode ("repeat": each client's requests in turn until the time is up;
-- "once": each request once, then the thread stops and says so), the API key, a prefix that makes this
-- run's keys unique, then a line per request: "client<TAB>path<TAB>body<TAB>status", the
-- status being the answer that counts as done; an empty body sends a GET, an empty API key
-- no Authorization header. The JSON line counts the answers per status
-- and quotes the first unexpected one.

local threads = {}

function setup(thread)
  thread:set("client", #threads)
  table.insert(threads, thread)
end

local function lines(path)
  local file = assert(io.open(path, "r"))
  local all = {}
  for line in file:lines() do
    table.insert(all, line)
  end
  file:close()
  return all
end

function init(args)
  local all = lines(args[1])
  mode, key, prefix = all[1], all[2], all[3]
  work = {}
  for i = 4, #all do
    local owner, path, body, expected = all[i]:match("^(%d+)\t([^\t]+)\t([^\t]*)\t(%d+)$")
    if tonumber(owner) == client then
      table.insert(work, { path = path, body = body, expected = tonumber(expected) })
    end
  end
  sent, answered, ok, statuses, unexpected = 0, 0, 0, {}, ""
end

function request()
  local item = work[(sent % #work) + 1]
  sent = sent + 1
  local headers = {}
  if key ~= "" then
    headers["Authorization"] = "Bearer " .. key
  end
  if item.body == "" then
    return wrk.format("GET", item.path, headers)
  end
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = prefix .. "-" .. client .. "-" .. sent
  return wrk.format("POST", item.path, headers, item.body)
end

function response(status, headers, body)
  local item = work[(answered % #work) + 1]
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if status == item.expected then
    ok = ok + 1
  elseif unexpected == "" then
    unexpected = status .. " " .. body:sub(1, 300)
  end
  if mode == "once" and answered >= #work then
    -- wrk itself runs for its whole --duration: bench/http_load.py interrupts it (SIGINT)
    -- once every client has said so.
    io.write("finished " .. client .. "\n")
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local counts, ok_total, first = {}, 0, ""
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
    if first == "" then
      first = thread:get("unexpected")
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  first = first:gsub('[%c"\\]', " ")
  io.write(string.format(
    '{"expected": %d, "statuses": {%s}, "duration_us": %d, "socket_errors": %d, '
      .. '"timeouts": %d, "p50_ms": %.2f, "p99_ms": %.2f, "first_unexpected": "%s"}\n',
    ok_total, table.concat(parts, ", "), summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000, first
  ))
end
