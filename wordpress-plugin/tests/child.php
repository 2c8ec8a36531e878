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
 * calls wp_cache_get() and returns [ value, found ], "ext" returns
 * wp_using_ext_object_cache().  'db' ([ socket, prefix ]) gives the process
 * a $wpdb on the test database, 'no_dropin' leaves object-cache.php out
 * (WordPress without the drop-in), 'includes' lists must-use plugins.  The results are
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
if ( isset( $job['db'] ) ) { // WordPress's database: the private MariaDB of the test run.
	require __DIR__ . '/TestDatabase.php';
	$GLOBALS['wpdb'] = new TestWpdb( $job['db']['socket'], $job['db']['prefix'] );
}
if ( ! empty( $job['wp_cli'] ) ) { // WP-CLI is not installed here: a recorder with its API.
	define( 'WP_CLI', true );
	class WP_CLI {
		public static $hooks = array(), $commands = array(), $output = array();
		public static function add_hook( $when, $callback ) {
			self::$hooks[ $when ][] = $callback;
		}
		public static function add_command( $name, $callable, $args = array() ) {
			self::$commands[ $name ] = $callable;
		}
		public static function line( $text ) {
			self::$output[] = $text;
		}
	}
}
if ( empty( $job['no_dropin'] ) ) {
	require dirname( __DIR__ ) . '/object-cache.php';
	wp_using_ext_object_cache( true ); // As wp_start_object_cache() does.
	wp_cache_init();
}
foreach ( $job['includes'] ?? array() as $file ) { // Must-use plugins, loaded after the cache as WordPress does.
	require $file;
}
$results = array();
foreach ( $job['ops'] as $op ) {
	$fn = array_shift( $op );
	if ( 'init' === $fn ) { // The next request of the same PHP worker.
		wp_cache_init();
		$results[] = true;
	} elseif ( 'get_type' === $fn ) { // What `wp cache type` prints: run the hooks, then the command.
		foreach ( WP_CLI::$hooks['after_wp_load'] ?? array() as $hook ) {
			$hook();
		}
		call_user_func( WP_CLI::$commands['cache type'], array(), array() );
		$results[] = array(
			'hooks'    => array_keys( WP_CLI::$hooks ),
			'commands' => array_keys( WP_CLI::$commands ),
			'output'   => WP_CLI::$output,
		);
	} elseif ( 'ext' === $fn ) {
		$results[] = wp_using_ext_object_cache();
	} elseif ( 'get_found' === $fn ) {
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
