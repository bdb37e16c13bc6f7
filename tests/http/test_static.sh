# The web UI's files at /: content types, index.html, no directory
# traversal, no hidden files, no symlinks out of the directory.
. "$(dirname "$0")/lib.sh" "$@"

mkdir -p "$T/web/css" "$T/web/sub"
printf '<!doctype html><title>ui</title>\n' >"$T/web/index.html"
printf 'console.log(1)\n' >"$T/web/app.js"
printf 'body{}\n' >"$T/web/css/site.css"
printf '<svg/>\n' >"$T/web/logo.svg"
printf 'secret\n' >"$T/web/.hidden"
printf 'outside\n' >"$T/outside.txt"
ln -s "$T/outside.txt" "$T/web/link.txt"
start --store memory: --web "$T/web" || finish

ctype() { curl -s -o /dev/null -w '%{content_type}' --max-time 5 "$B$1"; }
req GET /
status 200 "index"
grep -q '<title>ui</title>' "$T/body"
same $? 0 "/ is index.html"
same "$(ctype /)" "text/html; charset=utf-8" "html type"
same "$(ctype /app.js)" "text/javascript; charset=utf-8" "js type"
same "$(ctype /css/site.css)" "text/css; charset=utf-8" "css type"
same "$(ctype /logo.svg)" "image/svg+xml" "svg type"
req GET /nothing.html
status 404 "missing file"
req GET /sub
status 404 "a directory without index"
for p in /../outside.txt /%2e%2e/outside.txt /css/..%2f..%2foutside.txt \
    /.hidden /link.txt '/css/%5c..%5coutside.txt' /%00; do
	STATUS=$(curl -s --path-as-is -o "$T/body" -w '%{http_code}' \
	    --max-time 5 "$B$p")
	status 404 "refused: $p"
	grep -q outside "$T/body" && fail "leaked the file outside by $p"
done
req POST /index.html
status 405 "POST to a file"

stop TERM
# without any UI directory, / still answers with a short page
start --store memory: --web "$T/none" || finish
req GET /
status 200 "no UI: / answers"
grep -q -- '--web' "$T/body"
same $? 0 "no UI: says how to give one"
finish
