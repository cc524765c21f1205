# nginx as a test's HTTPS (or HTTP) server, all of it in one folder.

# nginx_conf DIR: writes DIR/nginx.conf for an nginx in the foreground
# (nginx -c DIR/nginx.conf) whose pid, logs (error.log, access.log) and
# temporary folders are in DIR, with one server block: its lines (listen,
# ssl_certificate, root, locations...) come on stdin.
nginx_conf() {
	local server
	server=$(cat)
	mkdir -p "$1"
	cat >"$1/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 64; }
http {
	access_log $1/access.log;
	client_body_temp_path $1/body;
	proxy_temp_path $1/proxy;
	fastcgi_temp_path $1/fastcgi;
	uwsgi_temp_path $1/uwsgi;
	scgi_temp_path $1/scgi;
	server {
$server
	}
}
NGINX
}
