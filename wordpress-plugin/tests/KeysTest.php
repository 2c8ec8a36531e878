<?php
/**
 * Keys that the text protocol cannot carry are hashed: none of them may
 * fail, collide, or smuggle a command to the server.
 */
class KeysTest extends CacheTestCase {

	public function awkward_keys() {
		return array(
			'space'          => array( 'two words' ),
			'tab'            => array( "a\tb" ),
			'CRLF injection' => array( "x 0 0 1\r\nset evil 0 0 4\r\nEVIL\r\nflush_all" ),
			'LF'             => array( "line\nbreak" ),
			'NUL'            => array( "nul\0byte" ),
			'DEL'            => array( "del\x7f" ),
			'UTF-8'          => array( 'clé-ü-日本' ),
			'250 bytes'      => array( str_repeat( 'k', 250 ) ),
			'251 bytes'      => array( str_repeat( 'k', 251 ) ),
			'long'           => array( str_repeat( 'long key ', 100 ) ),
		);
	}

	/** @dataProvider awkward_keys */
	public function test_awkward_keys_round_trip_without_harm( $key ) {
		wp_cache_set( 'sentinel', 'still here', 'g' );
		$this->assertTrue( wp_cache_set( $key, 'value', 'g' ) );
		$this->assertTrue( wp_cache_add( $key . '-add', 'added', 'g' ) );

		$server_key = $this->cache->server_key( $key, 'g' );
		$this->assertLessThanOrEqual( 250, strlen( $server_key ) );
		$this->assertMatchesRegularExpression( '/^[\x21-\x7e]+$/D', $server_key );

		$this->new_request();
		$this->assertSame( 'value', wp_cache_get( $key, 'g' ) );
		$this->assertSame( array( $key => 'value', 'sentinel' => 'still here' ), wp_cache_get_multiple( array( $key, 'sentinel' ), 'g' ) );
		$this->assertSame( 'added', wp_cache_get( $key . '-add', 'g' ) );
		$this->assertSame( "END\r\n", $this->server->raw( "get evil\r\n" ), 'nothing injected' );

		wp_cache_set( 'n', 1, 'g' );
		$this->assertTrue( wp_cache_delete( $key, 'g' ) );
		$this->new_request();
		$this->assertFalse( wp_cache_get( $key, 'g' ) );
		$this->assertSame( 'still here', wp_cache_get( 'sentinel', 'g' ) );
	}

	public function test_awkward_groups_and_salts() {
		wp_cache_set( 'k', 'v', "group with spaces\r\n" );
		$this->cache->key_salt = "salt with spaces\r\n" . str_repeat( 's', 300 );
		wp_cache_set( 'k2', 'v2', 'g' );
		$this->new_request();
		$this->assertSame( 'v', wp_cache_get( 'k', "group with spaces\r\n" ) );
		$this->cache->key_salt = "salt with spaces\r\n" . str_repeat( 's', 300 );
		$this->assertSame( 'v2', wp_cache_get( 'k2', 'g' ) );
	}

	public function test_short_plain_keys_stay_readable() {
		wp_cache_set( 'alloptions', array( 'a' => 1 ), 'options' );
		$key = $this->cache->server_key( 'alloptions', 'options' );
		$this->assertMatchesRegularExpression( '/^[0-9a-f]{12}:options:0:alloptions$/', $key );
		$this->assertStringContainsString( 'VALUE ' . $key, $this->server->raw( "get $key\r\n" ) );
	}

	public function test_hashed_keys_do_not_collide() {
		$a = str_repeat( 'x', 300 ) . 'a';
		$b = str_repeat( 'x', 300 ) . 'b';
		wp_cache_set( $a, 'a', 'g' );
		wp_cache_set( $b, 'b', 'g' );
		wp_cache_set( $a, 'other group', 'g2' );
		$this->new_request();
		$this->assertSame( 'a', wp_cache_get( $a, 'g' ) );
		$this->assertSame( 'b', wp_cache_get( $b, 'g' ) );
		$this->assertSame( 'other group', wp_cache_get( $a, 'g2' ) );
	}
}
