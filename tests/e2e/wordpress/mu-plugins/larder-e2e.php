<?php
/**
 * Plugin Name: Larder E2E probe
 * Description: After each request, appends one JSON line to the file named by
 * LARDER_E2E_LOG: the URL, the number of database queries and the object
 * cache's counters.  Used by tests/e2e/wordpress.sh only.
 */

add_action(
	'shutdown',
	function () {
		global $wp_object_cache;
		if ( ! defined( 'LARDER_E2E_LOG' ) ) {
			return;
		}
		$line = array(
			'uri'       => isset( $_SERVER['REQUEST_URI'] ) ? $_SERVER['REQUEST_URI'] : 'cli',
			'queries'   => get_num_queries(),
			'dropin'    => defined( 'LARDER_OBJECT_CACHE' ),
			'external'  => wp_using_ext_object_cache(),
			'hits'      => (int) $wp_object_cache->cache_hits,
			'misses'    => (int) $wp_object_cache->cache_misses,
			'stats'     => method_exists( $wp_object_cache, 'get_stats' ) ? $wp_object_cache->get_stats() : null,
		);
		file_put_contents( LARDER_E2E_LOG, json_encode( $line ) . "\n", FILE_APPEND | LOCK_EX );
	},
	PHP_INT_MAX
);
