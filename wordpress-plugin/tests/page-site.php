<?php
/**
 * A small site behind the page cache, for PageCacheTest: the router of a
 * `php -S`.  advanced-cache.php runs first, exactly as WordPress includes
 * it; what follows stands for WordPress and answers as the query asks:
 *   status=N         the HTTP status
 *   type=T           the Content-Type
 *   header=H         one more response header ("Name: value")
 *   cookie=1         sets a cookie
 * Every page says how many times it was generated (a counter per URI in
 * $LARDER_TEST_DIR), so a test can tell a cached page from a fresh one.
 * $LARDER_TEST_CONSTANTS (JSON) defines the settings.
 */

define( 'ABSPATH', __DIR__ . '/' );
foreach ( json_decode( (string) getenv( 'LARDER_TEST_CONSTANTS' ), true ) ?: array() as $name => $value ) {
	define( $name, $value );
}
require dirname( __DIR__ ) . '/advanced-cache.php';

$counter = getenv( 'LARDER_TEST_DIR' ) . '/count-' . md5( $_SERVER['REQUEST_METHOD'] === 'HEAD' ? 'GET ' . $_SERVER['REQUEST_URI'] : $_SERVER['REQUEST_METHOD'] . ' ' . $_SERVER['REQUEST_URI'] );
$n       = (int) @file_get_contents( $counter ) + 1;
file_put_contents( $counter, (string) $n );

if ( isset( $_GET['status'] ) ) {
	http_response_code( (int) $_GET['status'] );
}
header( 'Content-Type: ' . ( $_GET['type'] ?? 'text/html; charset=UTF-8' ) );
header( 'X-Generator: page-site' );
if ( isset( $_GET['header'] ) ) {
	header( $_GET['header'] );
}
if ( isset( $_GET['cookie'] ) ) {
	setcookie( 'visited', '1' );
}
echo "<!DOCTYPE html><title>Page</title><p>uri {$_SERVER['REQUEST_URI']} generation $n</p>\n";
echo str_repeat( "<p>Filler to make the page larger than php-memcached's compression threshold.</p>\n", 40 );
