<?php
/**
 * A separate PHP process using the drop-in, as a second web request would.
 *
 *   php child.php '<json>'
 *
 * The JSON gives 'servers' (becomes the LARDER_SERVERS constant), an
 * optional 'salt' (WP_CACHE_KEY_SALT), 'constants' (more constants to
 * define), 'state_dir' (LARDER_STATE_DIR) and 'ops': a list of
 * [ function, arg, ... ] calls of wp_cache_* functions.  The op "get_found"
 * calls wp_cache_get() and returns [ value, found ].  The results are
 * printed with serialize(), so that types survive the trip back.
 */

$job = json_decode( $argv[1], true );
if ( isset( $job['servers'] ) ) {
	define( 'LARDER_SERVERS', $job['servers'] );
}
foreach ( $job['constants'] ?? array() as $name => $value ) {
	define( $name, $value );
}
if ( isset( $job['state_dir'] ) ) {
	define( 'LARDER_STATE_DIR', $job['state_dir'] );
}
if ( isset( $job['salt'] ) ) {
	define( 'WP_CACHE_KEY_SALT', $job['salt'] );
}
require __DIR__ . '/fake-wordpress.php';
require dirname( __DIR__ ) . '/object-cache.php';

wp_cache_init();
$results = array();
foreach ( $job['ops'] as $op ) {
	$fn = array_shift( $op );
	if ( 'get_found' === $fn ) {
		$found     = null;
		$value     = wp_cache_get( $op[0], $op[1] ?? '', false, $found );
		$results[] = array( $value, $found );
	} elseif ( 'stats' === $fn ) {
		$results[] = $GLOBALS['wp_object_cache']->get_stats();
	} else {
		$results[] = call_user_func_array( 'wp_cache_' . $fn, $op );
	}
}
echo serialize( $results );
