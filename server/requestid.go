package server

// maxRequestIDLen bounds a caller's X-Request-Id.
const maxRequestIDLen = 64

// validRequestID reports whether a caller's X-Request-Id may be kept: 1 to
// maxRequestIDLen characters of [A-Za-z0-9._:-]. It reaches every log line
// of the request, the rejected-deliveries list and the response, so anything
// else (spaces, quotes, control bytes, non-ASCII) is replaced by an ID of
// our own rather than escaped in each of those places.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := range len(id) {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}
