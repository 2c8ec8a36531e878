<?php
/**
 * Long-running processes and busy sites: persistent connections, a failed
 * server tried again after a growing back-off, the log written once a
 * minute at most across requests, counters that survive being emptied, the
 * settings (max TTL, ignored groups, TLS/SASL placeholders).
 */
class ResilienceTest extends CacheTestCase {

	/** @var CacheServer|null */
	private $own;

	protected function tearDown(): void {
		if ( $this->own ) {
			$this->own->stop();
		}
		parent::tearDown();
	}

	public function test_persistent_connections_are_kept_between_requests() {
		$ops = array( array( 'set', 'k', 'v', 'g' ), array( 'init' ), array( 'get', 'k', 'g' ), array( 'init' ), array( 'get', 'k', 'g' ), array( 'stats' ) );

		$before = (int) $this->server->stats()['total_connections'];
		$got    = $this->child( $ops );
		$after  = (int) $this->server->stats()['total_connections'];
		$this->assertSame( 'v', $got[4] );
		$this->assertTrue( $got[5]['persistent'] );
		$this->assertSame( 1, $after - $before - 1, 'three requests in one PHP worker, one connection (and one for stats)' );

		$before = $after;
		$got    = $this->child( $ops, null, array( 'constants' => array( 'LARDER_PERSISTENT' => false ) ) );
		$after  = (int) $this->server->stats()['total_connections'];
		$this->assertSame( 'v', $got[4] );
		$this->assertFalse( $got[5]['persistent'] );
		$this->assertSame( 3, $after - $before - 1, 'without persistent connections, one per request' );
	}

	public function test_a_failed_server_is_tried_again_after_a_growing_back_off() {
		$this->own                    = CacheServer::start();
		$GLOBALS['memcached_servers'] = array( $this->own->address() );
		$this->new_request();
		$this->assertTrue( wp_cache_set( 'before', 1, 'g' ) );

		$this->own->stop();
		for ( $i = 0; $i < 5 && ! $this->cache->is_offline(); $i++ ) { // A few connection errors set the server aside.
			wp_cache_set( "during$i", 2, 'g' );
		}
		$this->assertTrue( $this->cache->is_offline() );
		$this->assertSame( 1.0, $this->cache->get_backoff()['default']['wait'] );

		// Still down when the back-off ends: the next one is twice as long.
		$this->wait_until( fn() => 0.0 === $this->cache->get_backoff()['default']['retry_in'], 'the first back-off ends' );
		wp_cache_get( 'before', 'g', true );
		$this->assertTrue( $this->cache->is_offline() );
		$this->assertSame( 2.0, $this->cache->get_backoff()['default']['wait'] );

		// The server comes back (empty): this same process uses it again.
		$this->own->restart();
		$this->wait_until(
			function () {
				wp_cache_set( 'after', 3, 'g' );
				return ! $this->cache->is_offline() && false !== strpos( $this->own->raw( "get larder:map\r\n" ), 'VALUE' );
			},
			'the cache uses the server again'
		);
		$this->new_request();
		$this->assertSame( 3, wp_cache_get( 'after', 'g' ), 'written to the server, read by the next request' );
		$this->assertLessThanOrEqual( 1, count( $this->logged() ), implode( "\n", $this->logged() ) );
	}

	public function test_a_dead_server_is_logged_once_a_minute_across_requests() {
		$dead = '127.0.0.1:' . CacheServer::free_port();
		for ( $i = 0; $i < 3; $i++ ) {
			$got = $this->child( array( array( 'set', 'k', 'v', 'g' ), array( 'stats' ) ), $dead );
			$this->assertTrue( $got[1]['offline'] );
		}
		$log = $this->logged();
		$this->assertCount( 1, $log, 'three requests, one line: ' . implode( "\n", $log ) );
		$this->assertStringContainsString( $dead, $log[0] );

		// A minute later (the stamp file says when the last line was written), one more line.
		$stamps = glob( LARDER_STATE_DIR . '/larder-object-cache-*.log-stamp' );
		$this->assertCount( 1, $stamps );
		touch( $stamps[0], time() - 61 );
		$this->child( array( array( 'get', 'k', 'g' ) ), $dead );
		$this->child( array( array( 'get', 'k', 'g' ) ), $dead );
		$this->assertCount( 2, $this->logged() );
	}

	public function test_counters_survive_being_emptied_and_no_dynamic_properties() {
		$problems = array();
		set_error_handler(
			function ( $no, $message, $file, $line ) use ( &$problems ) {
				$problems[] = "$message at $file:$line";
				return true;
			}
		);
		try {
			// What WordPress's test library does before each test, and WP-CLI's wp_clear_object_cache().
			$this->cache->stats          = array();
			$this->cache->group_ops      = array();
			$this->cache->memcache_debug = array();
			$this->cache->cache          = array();
			wp_cache_set( 'k', 'v', 'g' );
			wp_cache_get( 'k', 'g' );
			wp_cache_get( 'k', 'g', true );
			wp_cache_get( 'missing', 'g' );
			wp_cache_get_multiple( array( 'k', 'x' ), 'g', true );
			wp_cache_incr( 'n', 1, 'g' );
			wp_cache_add( 'n', 1, 'g' );
			wp_cache_incr( 'n', 1, 'g' );
			wp_cache_delete( 'k', 'g' );
			wp_cache_flush_group( 'g' );
			$stats = $this->cache->get_stats();
			ob_start();
			$this->cache->stats();
			ob_end_clean();
		} finally {
			restore_error_handler();
		}
		$this->assertSame( array(), $problems );
		$this->assertSame( 2, $stats['server_hits'] );
		$this->assertSame( 2, $stats['misses'] );
		$dynamic = array_diff( array_keys( get_object_vars( $this->cache ) ), array_map( fn( $p ) => $p->getName(), ( new ReflectionClass( $this->cache ) )->getProperties() ) );
		$this->assertSame( array(), array_values( $dynamic ), 'every property is declared' );
	}

	public function test_max_ttl_caps_every_lifetime() {
		$this->child(
			array( array( 'set', 'forever', 1, 'g' ), array( 'set', 'long', 1, 'g', 86400 ), array( 'set', 'short', 1, 'g', 30 ) ),
			null,
			array( 'constants' => array( 'LARDER_MAX_TTL' => 600 ) )
		);
		$this->new_request();
		foreach ( array( 'forever' => 600, 'long' => 600, 'short' => 30 ) as $key => $ttl ) {
			$reply = $this->server->raw( 'mg ' . $this->cache->server_key( $key, 'g' ) . " t\r\n", "/(HD|EN)[^\r]*\r\n$/" );
			$this->assertMatchesRegularExpression( '/^HD t(\d+)/', $reply, $key );
			preg_match( '/t(\d+)/', $reply, $m );
			$this->assertLessThanOrEqual( $ttl, (int) $m[1], $key );
			$this->assertGreaterThan( $ttl - 60, (int) $m[1], $key );
		}
	}

	public function test_ignored_groups_stay_in_the_request() {
		$got = $this->child(
			array( array( 'set', 'k', 'secret', 'private-stuff' ), array( 'get', 'k', 'private-stuff' ), array( 'set', 'k', 'shared', 'g' ) ),
			null,
			array( 'constants' => array( 'LARDER_IGNORED_GROUPS' => 'private-stuff, other' ) )
		);
		$this->assertSame( 'secret', $got[1] );
		$got = $this->child( array( array( 'get_found', 'k', 'private-stuff' ), array( 'get_found', 'k', 'g' ) ) );
		$this->assertSame( array( array( false, false ), array( 'shared', true ) ), $got );
	}

	public function test_tls_and_sasl_settings_keep_the_cache_off_rather_than_send_in_the_clear() {
		$before = (int) $this->server->stats()['total_connections'];
		$got    = $this->child( array( array( 'set', 'k', 'v', 'g' ), array( 'get', 'k', 'g' ), array( 'stats' ) ), null, array( 'constants' => array( 'LARDER_TLS' => true ) ) );
		$this->assertSame( 'v', $got[1], 'the request still works' );
		$this->assertTrue( $got[2]['offline'] );
		$this->assertSame( $before + 1, (int) $this->server->stats()['total_connections'] );
		$this->assertStringContainsString( 'LARDER_TLS', implode( "\n", $this->logged() ) );
	}

	public function test_the_cache_names_itself_larder() {
		$this->assertSame( 'Larder', wp_cache_get_type() );
		$got = $this->child( array( array( 'get_type' ) ), null, array( 'wp_cli' => true ) );
		$this->assertSame( array( 'after_wp_load' ), $got[0]['hooks'], 'waits for WordPress, then replaces `wp cache type`' );
		$this->assertSame( array( 'cache type' ), $got[0]['commands'] );
		$this->assertSame( array( 'Larder' ), $got[0]['output'] );
	}

	private function wait_until( callable $condition, $what ) {
		$deadline = microtime( true ) + 30;
		while ( ! $condition() ) {
			$this->assertLessThan( $deadline, microtime( true ), "timed out waiting: $what" );
			usleep( 50000 );
		}
	}
}
