-- wrk script for `make bench-webhook`: every request POSTs the same AdmissionReview (a pod of a
-- KSA in the cache), read from the file WEBHOOK_REVIEW names.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = assert(io.open(os.getenv("WEBHOOK_REVIEW"), "rb"))
wrk.body = file:read("*a")
file:close()
