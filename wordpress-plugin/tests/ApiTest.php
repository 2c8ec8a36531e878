<?php
/**
 * Every function of the object-cache API, against a real server.  "A new
 * request" is a new WP_Object_Cache: what it reads comes from the server.
 */
class ApiTest extends CacheTestCase {

	public function values() {
		$object        = new stdClass();
		$object->title = 'Hello';
		$object->list  = array( 1, 2, 3 );
		return array(
			'false'        => array( false ),
			'true'         => array( true ),
			'zero'         => array( 0 ),
			'int'          => array( 42 ),
			'negative int' => array( -7 ),
			'big int'      => array( PHP_INT_MAX ),
			'float'        => array( 1.5 ),
			'empty string' => array( '' ),
			'zero string'  => array( '0' ),
			'string'       => array( "multi\r\nline \0 binary \xff" ),
			'null'         => array( null ),
			'empty array'  => array( array() ),
			'array'        => array( array( 'a' => 1, 'b' => array( false, null, '' ) ) ),
			'object'       => array( $object ),
			'big string'   => array( str_repeat( 'WordPress ', 50000 ) ),
		);
	}

	/** @dataProvider values */
	public function test_values_keep_their_type_across_requests( $value ) {
		$this->assertTrue( wp_cache_set( 'k', $value, 'g' ) );

		$found = null;
		$this->assertEquals( $value, wp_cache_get( 'k', 'g', false, $found ), 'runtime cache' );
		$this->assertTrue( $found );

		$this->new_request();
		$found = null;
		$got   = wp_cache_get( 'k', 'g', false, $found );
		$this->assertTrue( $found, 'found on the server' );
		if ( is_object( $value ) ) {
			$this->assertEquals( $value, $got );
			$this->assertInstanceOf( get_class( $value ), $got );
		} else {
			$this->assertSame( $value, $got );
		}
		$this->assertSame( 1, $this->cache->stats['server_hits'] );
	}

	public function test_miss_is_told_apart_from_stored_false() {
		$found = true;
		$this->assertFalse( wp_cache_get( 'absent', 'g', false, $found ) );
		$this->assertFalse( $found );

		wp_cache_set( 'f', false, 'g' );
		$this->new_request();
		$found = null;
		$this->assertFalse( wp_cache_get( 'f', 'g', false, $found ) );
		$this->assertTrue( $found );
		$this->assertSame( 1, $this->cache->cache_hits );
		$this->assertSame( 0, $this->cache->cache_misses );
	}

	public function test_hits_and_misses_are_counted() {
		wp_cache_get( 'a', 'g' );
		wp_cache_set( 'a', 1, 'g' );
		wp_cache_get( 'a', 'g' );
		wp_cache_get( 'a', 'g' );
		$this->assertSame( 2, $this->cache->cache_hits );
		$this->assertSame( 1, $this->cache->cache_misses );
		$stats = $this->cache->get_stats();
		$this->assertSame( 2, $stats['runtime_hits'] );
		$this->assertEqualsWithDelta( 2 / 3, $stats['ratio'], 0.001 );

		ob_start();
		$this->cache->stats();
		$html = ob_get_clean();
		$this->assertStringContainsString( '<strong>Cache Hits:</strong> 2', $html );
		$this->assertStringContainsString( '<strong>Cache Misses:</strong> 1', $html );
		$this->assertStringContainsString( 'Group:</strong> g', $html );
	}

	public function test_add_only_when_absent() {
		$this->assertTrue( wp_cache_add( 'k', 'first', 'g' ) );
		$this->assertFalse( wp_cache_add( 'k', 'second', 'g' ), 'same request' );
		$this->new_request();
		$this->assertFalse( wp_cache_add( 'k', 'third', 'g' ), 'other request: the server has it' );
		$this->assertSame( 'first', wp_cache_get( 'k', 'g' ) );
		wp_cache_delete( 'k', 'g' );
		$this->assertTrue( wp_cache_add( 'k', 'fourth', 'g' ) );
		$this->new_request();
		$this->assertSame( 'fourth', wp_cache_get( 'k', 'g' ) );
	}

	public function test_add_is_refused_while_cache_addition_is_suspended() {
		wp_suspend_cache_addition( true );
		$this->assertFalse( wp_cache_add( 'k', 1, 'g' ) );
		$this->assertSame( array( 'a' => false ), wp_cache_add_multiple( array( 'a' => 1 ), 'g' ) );
		wp_suspend_cache_addition( false );
		$this->new_request();
		$this->assertFalse( wp_cache_get( 'k', 'g' ) );
	}

	public function test_replace_only_when_present() {
		$this->assertFalse( wp_cache_replace( 'k', 'x', 'g' ) );
		$this->assertFalse( wp_cache_get( 'k', 'g' ) );
		wp_cache_set( 'k', 'old', 'g' );
		$this->new_request();
		$this->assertTrue( wp_cache_replace( 'k', 'new', 'g' ) );
		$this->assertSame( 'new', wp_cache_get( 'k', 'g' ) );
		$this->new_request();
		$this->assertSame( 'new', wp_cache_get( 'k', 'g' ) );
	}

	public function test_replace_does_not_trust_a_runtime_copy_deleted_elsewhere() {
		wp_cache_set( 'k', 'old', 'g' );
		$this->child( array( array( 'delete', 'k', 'g' ) ) );
		$this->assertFalse( wp_cache_replace( 'k', 'new', 'g' ) );
		$this->assertFalse( wp_cache_get( 'k', 'g' ) );
	}

	public function test_delete() {
		wp_cache_set( 'k', 'v', 'g' );
		$this->new_request();
		$this->assertTrue( wp_cache_delete( 'k', 'g' ) );
		$this->assertFalse( wp_cache_delete( 'k', 'g' ) );
		$this->new_request();
		$found = null;
		$this->assertFalse( wp_cache_get( 'k', 'g', false, $found ) );
		$this->assertFalse( $found );
	}

	public function test_default_group() {
		wp_cache_set( 'k', 'v' );
		$this->assertSame( 'v', wp_cache_get( 'k', 'default' ) );
		$this->new_request();
		$this->assertSame( 'v', wp_cache_get( 'k' ) );
		$this->assertSame( 'v', wp_cache_get( 'k', '' ) );
	}

	public function test_incr_and_decr() {
		$this->assertFalse( wp_cache_incr( 'n', 1, 'g' ), 'missing key' );
		$this->assertFalse( wp_cache_decr( 'n', 1, 'g' ), 'missing key' );
		wp_cache_set( 'n', 5, 'g' );
		$this->assertSame( 6, wp_cache_incr( 'n', 1, 'g' ) );
		$this->assertSame( 16, wp_cache_incr( 'n', 10, 'g' ) );
		$this->assertSame( 6, wp_cache_incr( 'n', -10, 'g' ) );
		$this->assertSame( 4, wp_cache_decr( 'n', 2, 'g' ) );
		$this->assertSame( 0, wp_cache_decr( 'n', 100, 'g' ), 'never below zero' );
		$this->assertSame( 3, wp_cache_decr( 'n', -3, 'g' ) );
		$this->assertSame( 3, wp_cache_get( 'n', 'g' ) );
		$this->new_request();
		$this->assertSame( 3, wp_cache_get( 'n', 'g' ) );
		$this->assertSame( 4, wp_cache_incr( 'n', 1, 'g' ) );
	}

	public function test_incr_is_atomic_across_processes() {
		wp_cache_set( 'n', 0, 'g' );
		$ops = array_fill( 0, 20, array( 'incr', 'n', 1, 'g' ) );
		$this->child( $ops );
		$this->child( $ops );
		$this->assertSame( 41, wp_cache_incr( 'n', 1, 'g' ) );
	}

	public function test_incr_on_values_the_server_cannot_count() {
		wp_cache_set( 's', 'abc', 'g' );
		$this->assertSame( 2, wp_cache_incr( 's', 2, 'g' ), 'a non-number counts as 0, as in core' );
		wp_cache_set( 'f', 1.5, 'g' );
		$this->assertSame( 3.5, wp_cache_incr( 'f', 2.5, 'g' ), 'offset cast to int, as in core' );
		$this->new_request();
		$this->assertEquals( 2, wp_cache_get( 's', 'g' ) );
		$this->assertEquals( 3.5, wp_cache_get( 'f', 'g' ) );
	}

	public function test_incr_in_a_non_persistent_group() {
		wp_cache_set( 'n', 1, 'counts' );
		$this->assertSame( 3, wp_cache_incr( 'n', 2, 'counts' ) );
		$this->assertSame( 0, wp_cache_decr( 'n', 9, 'counts' ) );
		$this->assertFalse( wp_cache_incr( 'missing', 1, 'counts' ) );
	}

	public function test_get_multiple_uses_one_round_trip() {
		wp_cache_set_multiple( array( 'a' => 1, 'b' => false, 'c' => array( 3 ), 7 => 'seven' ), 'g' );
		$this->new_request();
		wp_cache_get( 'a', 'g' ); // In the runtime cache now.
		$before = $this->cache->stats['server_gets'];
		$hits   = (int) $this->server->stats()['get_hits'];

		$got = wp_cache_get_multiple( array( 'c', 'missing', 'a', 'b', 7 ), 'g' );
		$this->assertSame( array( 'c' => array( 3 ), 'missing' => false, 'a' => 1, 'b' => false, 7 => 'seven' ), $got );
		$this->assertSame( 1, $this->cache->stats['server_gets'] - $before, 'one multi-get' );
		$this->assertSame( 3, (int) $this->server->stats()['get_hits'] - $hits, 'c, b and 7 from the server' );

		// Now all in the runtime cache: no server trip.
		$before = $this->cache->stats['server_gets'];
		$this->assertSame( array( 'a' => 1, 'b' => false ), wp_cache_get_multiple( array( 'a', 'b' ), 'g' ) );
		$this->assertSame( $before, $this->cache->stats['server_gets'] );
	}

	public function test_get_multiple_force_goes_to_the_server() {
		wp_cache_set( 'a', 'old', 'g' );
		$this->child( array( array( 'set', 'a', 'new', 'g' ), array( 'delete', 'b', 'g' ) ) );
		$this->assertSame( array( 'a' => 'old' ), wp_cache_get_multiple( array( 'a' ), 'g' ) );
		$this->assertSame( array( 'a' => 'new' ), wp_cache_get_multiple( array( 'a' ), 'g', true ) );
	}

	public function test_multiple_functions_return_one_result_per_key() {
		$this->assertSame( array( 'a' => true, 'b' => true ), wp_cache_set_multiple( array( 'a' => 1, 'b' => 2 ), 'g' ) );
		$this->assertSame( array( 'b' => false, 'c' => true ), wp_cache_add_multiple( array( 'b' => 9, 'c' => 3 ), 'g' ) );
		$this->new_request();
		$this->assertSame( array( 'a' => 1, 'b' => 2, 'c' => 3 ), wp_cache_get_multiple( array( 'a', 'b', 'c' ), 'g' ) );
		$this->assertSame( array( 'a' => true, 'x' => false, 'c' => true ), wp_cache_delete_multiple( array( 'a', 'x', 'c' ), 'g' ) );
		$this->new_request();
		$this->assertSame( array( 'a' => false, 'b' => 2, 'c' => false ), wp_cache_get_multiple( array( 'a', 'b', 'c' ), 'g' ) );
	}

	public function test_objects_are_copies() {
		$post        = new stdClass();
		$post->title = 'original';
		wp_cache_set( 'p', $post, 'posts' );
		$post->title = 'changed after set';
		$this->assertSame( 'original', wp_cache_get( 'p', 'posts' )->title );

		$got        = wp_cache_get( 'p', 'posts' );
		$got->title = 'changed after get';
		$this->assertSame( 'original', wp_cache_get( 'p', 'posts' )->title );

		$this->new_request();
		$got        = wp_cache_get( 'p', 'posts' );
		$got->title = 'changed after server get';
		$this->assertSame( 'original', wp_cache_get( 'p', 'posts' )->title );
		$many = wp_cache_get_multiple( array( 'p' ), 'posts' );
		$many['p']->title = 'changed after get_multiple';
		$this->assertSame( 'original', wp_cache_get( 'p', 'posts' )->title );
	}

	public function test_force_rereads_the_server() {
		wp_cache_set( 'k', 'mine', 'g' );
		$this->child( array( array( 'set', 'k', 'theirs', 'g' ) ) );
		$this->assertSame( 'mine', wp_cache_get( 'k', 'g' ), 'runtime copy' );
		$this->assertSame( 'theirs', wp_cache_get( 'k', 'g', true ) );
		$this->assertSame( 'theirs', wp_cache_get( 'k', 'g' ), 'runtime copy refreshed' );
		$this->child( array( array( 'delete', 'k', 'g' ) ) );
		$found = null;
		$this->assertFalse( wp_cache_get( 'k', 'g', true, $found ) );
		$this->assertFalse( $found );
	}

	public function test_groups_do_not_collide() {
		wp_cache_set( 'b:c', 'group a', 'a' );
		wp_cache_set( 'c', 'group a:b', 'a:b' );
		wp_cache_set( 'k', 'g1', 'g1' );
		wp_cache_set( 'k', 'g2', 'g2' );
		$this->new_request();
		$this->assertSame( 'group a', wp_cache_get( 'b:c', 'a' ) );
		$this->assertSame( 'group a:b', wp_cache_get( 'c', 'a:b' ) );
		$this->assertSame( 'g1', wp_cache_get( 'k', 'g1' ) );
		$this->assertSame( 'g2', wp_cache_get( 'k', 'g2' ) );
	}

	public function test_int_and_string_keys_are_the_same_key() {
		wp_cache_set( 12, 'twelve', 'g' );
		$this->new_request();
		$this->assertSame( 'twelve', wp_cache_get( '12', 'g' ) );
	}

	public function test_flush_empties_this_site_only() {
		wp_cache_set( 'k', 'mine', 'g' );
		$other           = new WP_Object_Cache();
		$other->key_salt = 'othersite:';
		$other->set( 'k', 'theirs', 'g' );

		$this->assertTrue( wp_cache_flush() );
		$this->assertFalse( wp_cache_get( 'k', 'g' ) );
		$this->new_request();
		$this->assertFalse( wp_cache_get( 'k', 'g' ) );
		$this->assertTrue( wp_cache_set( 'k', 'after flush', 'g' ) );
		$this->new_request();
		$this->assertSame( 'after flush', wp_cache_get( 'k', 'g' ) );

		$other           = new WP_Object_Cache();
		$other->key_salt = 'othersite:';
		$this->assertSame( 'theirs', $other->get( 'k', 'g' ), 'another key salt keeps its items' );
	}

	public function test_flush_is_seen_by_other_processes() {
		wp_cache_set( 'k', 'v', 'g' );
		$this->child( array( array( 'flush' ) ) );
		$this->new_request();
		$this->assertFalse( wp_cache_get( 'k', 'g' ) );
	}

	public function test_flush_runtime_keeps_the_server_copy() {
		wp_cache_set( 'k', 'v', 'g' );
		$this->assertTrue( wp_cache_flush_runtime() );
		$this->assertSame( array(), $this->cache->cache );
		$this->assertSame( 'v', wp_cache_get( 'k', 'g' ) );
		$this->assertSame( 1, $this->cache->stats['server_hits'] );
	}

	public function test_flush_group() {
		wp_cache_set( 'a', 1, 'posts' );
		wp_cache_set( 'b', 2, 'posts' );
		wp_cache_set( 'a', 3, 'terms' );
		wp_cache_set( 'a', 4, 'counts' ); // Non-persistent.
		$this->assertTrue( wp_cache_flush_group( 'posts' ) );
		$this->assertTrue( wp_cache_flush_group( 'counts' ) );
		$this->assertFalse( wp_cache_get( 'a', 'posts' ) );
		$this->assertFalse( wp_cache_get( 'a', 'counts' ) );
		$this->assertSame( 3, wp_cache_get( 'a', 'terms' ) );

		$this->new_request();
		$this->assertFalse( wp_cache_get( 'a', 'posts' ) );
		$this->assertFalse( wp_cache_get( 'b', 'posts' ) );
		$this->assertSame( 3, wp_cache_get( 'a', 'terms' ) );

		$this->assertTrue( wp_cache_set( 'a', 'new', 'posts' ) );
		$this->new_request();
		$this->assertSame( 'new', wp_cache_get( 'a', 'posts' ) );

		// A flush by another process is seen by the next request.
		$this->child( array( array( 'flush_group', 'posts' ) ) );
		$this->new_request();
		$this->assertFalse( wp_cache_get( 'a', 'posts' ) );
		$this->assertSame( 3, wp_cache_get( 'a', 'terms' ) );
	}

	public function test_flush_group_races_do_not_lose_flushes() {
		wp_cache_set( 'k', 1, 'g1' );
		wp_cache_set( 'k', 1, 'g2' );
		// Two other processes flush other groups in between; our own flush must keep theirs.
		$this->child( array( array( 'flush_group', 'g1' ) ) );
		$this->assertTrue( wp_cache_flush_group( 'g2' ) );
		$this->new_request();
		$this->assertFalse( wp_cache_get( 'k', 'g1' ) );
		$this->assertFalse( wp_cache_get( 'k', 'g2' ) );
	}

	public function test_losing_the_key_map_never_serves_stale_items() {
		wp_cache_set( 'k', 'v', 'g' );
		// Evict the map behind the drop-in's back, as an LRU would.
		$map_key = 'larder:map';
		$this->assertSame( "DELETED\r\n", $this->server->raw( "delete $map_key\r\n" ) );
		$this->new_request();
		$this->assertFalse( wp_cache_get( 'k', 'g' ) );
	}

	public function test_non_persistent_groups_stay_in_the_request() {
		wp_cache_set( 'k', 'v', 'counts' );
		$this->assertSame( 'v', wp_cache_get( 'k', 'counts' ) );
		$this->assertSame( 0, $this->cache->stats['server_writes'] );
		$this->assertFalse( wp_cache_add( 'k', 'w', 'counts' ) );
		$this->assertTrue( wp_cache_replace( 'k', 'w', 'counts' ) );
		$this->assertTrue( wp_cache_delete( 'k', 'counts' ) );
		$this->assertFalse( wp_cache_replace( 'k', 'w', 'counts' ) );
		wp_cache_set( 'k', 'v', 'counts' );
		$this->new_request();
		$this->assertFalse( wp_cache_get( 'k', 'counts' ) );
	}

	public function test_multisite_blog_ids_and_global_groups() {
		$GLOBALS['fake_wp']['multisite'] = true;
		$this->new_request();
		$this->assertSame( '1:', $this->cache->blog_prefix );
		wp_cache_set( 'k', 'blog 1', 'posts' );
		wp_cache_set( 'u', 'global', 'users' );

		wp_cache_switch_to_blog( 2 );
		$this->assertSame( '2:', $this->cache->blog_prefix );
		$this->assertFalse( wp_cache_get( 'k', 'posts' ) );
		$this->assertSame( 'global', wp_cache_get( 'u', 'users' ) );
		wp_cache_set( 'k', 'blog 2', 'posts' );

		$this->new_request();
		$this->assertSame( 'blog 1', wp_cache_get( 'k', 'posts' ) );
		wp_cache_switch_to_blog( 2 );
		$this->assertSame( 'blog 2', wp_cache_get( 'k', 'posts' ) );
		$this->assertSame( 'global', wp_cache_get( 'u', 'users' ) );

		$GLOBALS['fake_wp']['blog_id'] = 2;
		$this->new_request();
		$this->assertSame( 'blog 2', wp_cache_get( 'k', 'posts' ) );
	}

	public function test_single_site_ignores_switch_to_blog() {
		wp_cache_set( 'k', 'v', 'posts' );
		wp_cache_switch_to_blog( 5 );
		$this->assertSame( '', $this->cache->blog_prefix );
		$this->assertSame( 'v', wp_cache_get( 'k', 'posts' ) );
	}

	public function test_global_groups_are_public() {
		$this->assertArrayHasKey( 'users', $this->cache->global_groups );
		wp_cache_add_global_groups( 'extra' );
		$this->assertArrayHasKey( 'extra', $this->cache->global_groups );
	}

	public function test_reset_forgets_per_site_groups_only() {
		wp_cache_set( 'k', 'v', 'posts' );
		wp_cache_set( 'u', 'v', 'users' );
		wp_cache_reset();
		$this->assertArrayNotHasKey( 'posts', $this->cache->cache );
		$this->assertArrayHasKey( 'users', $this->cache->cache );
	}

	public function test_invalid_keys_are_refused() {
		foreach ( array( '', '   ', null, false, array( 'x' ), 1.5 ) as $bad ) {
			$this->assertFalse( wp_cache_set( $bad, 'v', 'g' ) );
			$this->assertFalse( wp_cache_get( $bad, 'g' ) );
			$this->assertFalse( wp_cache_add( $bad, 'v', 'g' ) );
			$this->assertFalse( wp_cache_delete( $bad, 'g' ) );
			$this->assertFalse( wp_cache_incr( $bad, 1, 'g' ) );
		}
		$this->assertCount( 30, $GLOBALS['fake_wp']['wrong'] );
		$this->assertStringContainsString( 'WP_Object_Cache::set', $GLOBALS['fake_wp']['wrong'][0] );
		$this->assertSame( 0, $this->cache->stats['server_writes'] );
	}

	public function test_expiration() {
		wp_cache_set( 'short', 'v', 'g', 1 );
		wp_cache_set( 'long', 'v', 'g', 40 * DAY_IN_SECONDS_FOR_TESTS );
		wp_cache_add( 'added', 'v', 'g', 1 );
		sleep( 2 );
		$this->new_request();
		$this->assertFalse( wp_cache_get( 'short', 'g' ) );
		$this->assertFalse( wp_cache_get( 'added', 'g' ) );
		$this->assertSame( 'v', wp_cache_get( 'long', 'g' ), 'more than 30 days is sent as a Unix time' );
	}

	public function test_supports() {
		foreach ( array( 'add_multiple', 'set_multiple', 'get_multiple', 'delete_multiple', 'flush_runtime', 'flush_group' ) as $feature ) {
			$this->assertTrue( wp_cache_supports( $feature ), $feature );
		}
		$this->assertFalse( wp_cache_supports( 'teleport' ) );
	}

	public function test_close_then_use_again() {
		wp_cache_set( 'k', 'v', 'g' );
		$this->assertTrue( wp_cache_close() );
		$this->assertSame( 'v', wp_cache_get( 'k', 'g', true ) );
		$this->assertTrue( wp_cache_set( 'k', 'w', 'g' ) );
	}

	public function test_too_large_value_is_refused_and_leaves_nothing_stale() {
		wp_cache_set( 'big', 'small old value', 'g' );
		$huge = random_bytes( 3 * 1024 * 1024 ); // Does not compress.
		$this->assertFalse( wp_cache_set( 'big', $huge, 'g' ) );
		$this->assertSame( $huge, wp_cache_get( 'big', 'g' ), 'the request keeps its own copy' );
		$this->new_request();
		$this->assertFalse( wp_cache_get( 'big', 'g' ), 'the old value must not come back' );
		$this->assertFalse( $this->cache->is_offline() );
		$this->assertSame( 'ok', wp_cache_set( 'after', 'ok', 'g' ) ? wp_cache_get( 'after', 'g', true ) : 'set failed' );
	}
}

define( 'DAY_IN_SECONDS_FOR_TESTS', 86400 );
