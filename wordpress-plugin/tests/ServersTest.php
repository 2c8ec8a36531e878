<?php
/**
 * Server configuration, several servers with consistent hashing, and what
 * happens when servers are missing, dead or silent, or when the PHP
 * extension is not there: WordPress must keep working, quickly, and one
 * line must be logged.
 */
class ServersTest extends CacheTestCase {

	/** @var CacheServer[] */
	private $extra = array();

	/** @var resource[] */
	private $sockets = array();

	protected function tearDown(): void {
		foreach ( $this->extra as $server ) {
			$server->stop();
		}
		foreach ( $this->sockets as $socket ) {
			fclose( $socket );
		}
		parent::tearDown();
	}

	public function test_server_settings_in_every_accepted_form() {
		$d = array( 'default' => array( array( '127.0.0.1', 11211, 0 ) ) );
		$this->assertSame( $d, WP_Object_Cache::parse_servers( array() ) );
		$this->assertSame( $d, WP_Object_Cache::parse_servers( '127.0.0.1:11211' ) );
		$this->assertSame( $d, WP_Object_Cache::parse_servers( array( '127.0.0.1' ) ) );
		$this->assertSame( $d, WP_Object_Cache::parse_servers( array( '127.0.0.1', 11211 ) ) );
		$this->assertSame( $d, WP_Object_Cache::parse_servers( array( array( '127.0.0.1', '11211' ) ) ) );
		$this->assertSame( $d, WP_Object_Cache::parse_servers( array( 'default' => array( '127.0.0.1:11211' ) ) ) );
		$this->assertSame( $d, WP_Object_Cache::parse_servers( array( 'default' => '127.0.0.1:11211' ) ) );

		$this->assertSame(
			array( 'default' => array( array( 'a', 1, 0 ), array( 'b', 2, 3 ), array( '::1', 4, 0 ), array( '/run/larder.sock', 0, 0 ), array( '/tmp/l.sock', 0, 0 ) ) ),
			WP_Object_Cache::parse_servers( 'a:1, b:2:3,[::1]:4,unix:///run/larder.sock,/tmp/l.sock' )
		);
		$this->assertSame(
			array(
				'default' => array( array( 'a', 1, 0 ), array( 'b', 2, 0 ) ),
				'session' => array( array( 'c', 3, 0 ) ),
			),
			WP_Object_Cache::parse_servers(
				array(
					'default' => array( 'a:1', array( 'b', 2 ) ),
					'session' => array( array( 'c', 3 ) ),
				)
			)
		);
		$this->assertSame(
			array(
				'session' => array( array( 'c', 3, 0 ) ),
				'default' => array( array( '127.0.0.1', 11211, 0 ) ),
			),
			WP_Object_Cache::parse_servers( array( 'session' => array( 'c:3' ) ) ),
			'a default bucket always exists'
		);
	}

	public function test_the_constant_wins_over_the_global() {
		$GLOBALS['memcached_servers'] = array( '127.0.0.1:1' ); // Nothing listens on port 1.
		$got = $this->child( array( array( 'set', 'k', 'v', 'g' ), array( 'stats' ) ) );
		$this->assertTrue( $got[0] );
		$this->assertFalse( $got[1]['offline'] );
		$this->assertStringContainsString( 'VALUE', $this->server->raw( "get larder:map\r\n" ) );
	}

	public function test_keys_spread_over_servers_with_ketama() {
		// Fresh servers: flush_all leaves items counted in curr_items.
		for ( $i = 0; $i < 3; $i++ ) {
			$this->extra[] = CacheServer::start();
		}
		list( $one, $two, $three ) = $this->extra;
		$list                      = array( $one->address(), array( '127.0.0.1', $two->port ), '127.0.0.1:' . $three->port );

		$GLOBALS['memcached_servers'] = $list;
		$this->new_request();
		for ( $i = 0; $i < 300; $i++ ) {
			$this->assertTrue( wp_cache_set( "key$i", $i, 'g' ) );
		}
		$counts = array();
		foreach ( $this->extra as $s ) {
			$counts[] = (int) $s->stats()['curr_items'];
		}
		$this->assertSame( 301, array_sum( $counts ), 'every item once, plus the key map' );
		foreach ( $counts as $n ) {
			$this->assertGreaterThan( 50, $n, 'each server holds a fair share: ' . implode( ',', $counts ) );
		}

		// Another process with the servers in another order finds every key (ketama, not modulo).
		$got = $this->child( array( array( 'get_multiple', array( 'key0', 'key150', 'key299' ), 'g' ) ), $three->address() . ',' . $one->address() . ',' . $two->address() );
		$this->assertSame( array( 'key0' => 0, 'key150' => 150, 'key299' => 299 ), $got[0] );

		// One server dies: the others keep answering, quickly, for their keys.
		// (Not the one holding the key map: losing that one empties the
		// cache on purpose, see test_losing_the_key_map_never_serves_stale_items.)
		$holders = array();
		foreach ( $this->extra as $i => $s ) {
			if ( false !== strpos( $s->raw( "get larder:map\r\n" ), 'VALUE' ) ) {
				$holders[] = $i;
			}
		}
		$this->assertCount( 1, $holders, 'the key map lives on one server' );
		$victim = ( $holders[0] + 1 ) % 3;
		$this->extra[ $victim ]->stop();
		$this->new_request();
		$hits = 0;
		for ( $i = 0; $i < 300; $i++ ) {
			$hits += false !== wp_cache_get( "key$i", 'g' ) ? 1 : 0;
		}
		// Quickly: the dead server is given up after a few connection
		// errors, not tried (and waited for) once per key.  Counted, not
		// timed, so that a loaded machine does not fail it.
		$this->assertLessThanOrEqual( 4, $this->connection_failures(), 'the dead server was tried again and again' );
		$this->assertGreaterThanOrEqual( 300 - $counts[ $victim ], $hits );
		$this->assertTrue( wp_cache_set( 'after', 'death', 'g' ) );
		$this->assertSame( 'death', wp_cache_get( 'after', 'g', true ) );
	}

	public function test_groups_can_have_their_own_servers() {
		$this->extra[] = CacheServer::start();
		$this->extra[] = CacheServer::start();
		$GLOBALS['memcached_servers'] = array(
			'default' => array( $this->extra[1]->address() ),
			'session' => array( $this->extra[0]->address() ),
		);
		$this->new_request();
		wp_cache_set( 'k', 'sessions', 'session' );
		wp_cache_set( 'k', 'default', 'posts' );
		$this->assertSame( '1', $this->extra[0]->stats()['curr_items'] );
		$this->assertSame( '2', $this->extra[1]->stats()['curr_items'], 'posts and the key map' );
		$this->new_request();
		$this->assertSame( 'sessions', wp_cache_get( 'k', 'session' ) );
		$this->assertTrue( wp_cache_flush_group( 'session' ) );
		$this->assertFalse( wp_cache_get( 'k', 'session' ) );
	}

	public function test_dead_server_costs_little_and_logs_once() {
		$GLOBALS['memcached_servers'] = array( '127.0.0.1:' . CacheServer::free_port() );
		$this->new_request();
		$this->assert_works_without_server();
		$this->assertLessThanOrEqual( 2, $this->connection_failures(), 'each call tried the dead server' );
		$this->assertTrue( $this->cache->is_offline() );
		$log = $this->logged();
		$this->assertCount( 1, $log, implode( "\n", $log ) );
		$this->assertMatchesRegularExpression( '/Larder object cache: .*127\.0\.0\.1:\d+.*per-request cache only/', $log[0] );
	}

	public function test_silent_server_costs_little_and_logs_once() {
		// Accepts connections (the kernel does) but never answers.
		$socket          = stream_socket_server( 'tcp://127.0.0.1:0' );
		$this->sockets[] = $socket;
		$GLOBALS['memcached_servers'] = array( stream_socket_get_name( $socket, false ) );
		$this->new_request();
		$this->assert_works_without_server();
		// Each connection error costs one timeout: two of them bound the wait.
		$this->assertLessThanOrEqual( 2, $this->connection_failures(), 'each call waited for the silent server' );
		$this->assertTrue( $this->cache->is_offline() );
		$this->assertCount( 1, $this->logged(), implode( "\n", $this->logged() ) );
	}

	public function test_missing_extension_falls_back_and_logs_once() {
		$got = $this->child(
			array(
				array( 'set', 'k', 'v', 'g' ),
				array( 'get_found', 'k', 'g' ),
				array( 'add', 'k', 'w', 'g' ),
				array( 'incr', 'n', 1, 'g' ),
				array( 'get_multiple', array( 'k', 'x' ), 'g' ),
				array( 'flush_group', 'g' ),
				array( 'get_found', 'k', 'g' ),
				array( 'flush' ),
				array( 'stats' ),
			),
			null,
			array(),
			array( '-n' ) // No php.ini: no memcached extension.
		);
		$this->assertSame( array( true, array( 'v', true ), false, false, array( 'k' => 'v', 'x' => false ), true, array( false, false ), true ), array_slice( $got, 0, 8 ) );
		$this->assertTrue( $got[8]['offline'] );
		$log = $this->logged();
		$this->assertCount( 1, $log, implode( "\n", $log ) );
		$this->assertStringContainsString( 'memcached extension is not loaded', $log[0] );
	}

	/** The whole API on a cache that has lost its server: runtime semantics, nothing fatal. */
	/** Connection errors the drop-in has met in this request (all servers). */
	private function connection_failures() {
		$p = new ReflectionProperty( $this->cache, 'failures' );
		$p->setAccessible( true );
		return array_sum( $p->getValue( $this->cache ) );
	}

	private function assert_works_without_server() {
		for ( $round = 0; $round < 20; $round++ ) {
			$this->assertTrue( wp_cache_set( 'k', 'v', 'g' ) );
			$this->assertSame( 'v', wp_cache_get( 'k', 'g' ) );
			$this->assertSame( 'v', wp_cache_get( 'k', 'g', true ) );
			$this->assertFalse( wp_cache_add( 'k', 'v', 'g' ) );
			$this->assertTrue( wp_cache_replace( 'k', 'w', 'g' ) );
			wp_cache_set( 'n', 1, 'g' );
			$this->assertSame( 2, wp_cache_incr( 'n', 1, 'g' ) );
			$this->assertSame( array( 'k' => 'w', 'x' => false ), wp_cache_get_multiple( array( 'k', 'x' ), 'g' ) );
			$this->assertTrue( wp_cache_delete( 'k', 'g' ) );
			$found = null;
			$this->assertFalse( wp_cache_get( 'k', 'g', false, $found ) );
			$this->assertFalse( $found );
			wp_cache_flush_group( 'g' );
			wp_cache_flush_runtime();
		}
		$this->assertFalse( wp_cache_flush(), 'the server could not be flushed' );
	}
}
